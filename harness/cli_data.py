"""``harness data``: the core's command group about datasets, and ``harness data audit``.

A dataset plugin adds its own subcommands to the group with the registration key
``data_commands="module:function"`` of one of its datasets: ``function(sub)`` receives the
group's subcommand collection (``sub.add_parser(...)``), as ``harness_register_commands``
receives the top level's (docs/plugins.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run_options import _setting as setting

DEFAULT_STRATEGY = "none"  # what `harness run` scores without --strategy: the model as it is


def add_data_group(cli: Any) -> None:
    """``harness data`` with ``audit`` and every subcommand a dataset plugin adds."""
    data = cli.add_parser("data", help="inspect and make datasets: data audit, and plugins'")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(handler=lambda args: data.print_help() or 0)
    _add_audit(sub)
    _add_plugin_data_commands(sub)


def _add_audit(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="duplicates, near-duplicates, unmarked twins, train/eval overlap, saturation",
        description="For every partition of a retrieval dataset, loaded as `harness run` "
        "loads it: sizes, identical queries and candidates, near-duplicate candidates "
        "(MinHash over identifier 3-grams), golds with identical twins not marked relevant, "
        "overlap of the training and evaluated splits, and the main score of a simple model "
        "(saturated above 0.95). See docs/datasets.md.",
    )
    audit.add_argument("--dataset", required=True, help="dataset name (harness list)")
    audit.add_argument("--data-dir", type=Path, help="local copy of the dataset")
    audit.add_argument("--task", help="task (default: the first the dataset serves)")
    audit.add_argument("--split", help="evaluated split (default: the task card's)")
    audit.add_argument("--languages", type=lambda t: t.split(","), help="only these partitions")
    audit.add_argument(
        "--model",
        help="model whose main score tells saturation (default: the encoder registered "
        "with audit_baseline=True; 'none' skips it)",
    )
    audit.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        type=setting,
        metavar="SECTION.KEY=VALUE",
        help="a dataset.* or encoder.* option (the saturation model's), as for harness run",
    )
    audit.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard")
    audit.add_argument("--cache-dir", type=Path, help="as for harness run")
    audit.add_argument("--json", action="store_true", help="the whole report as JSON")
    audit.set_defaults(handler=run_audit)


def _add_plugin_data_commands(sub: Any) -> None:
    """Call each dataset registration's ``data_commands`` target with the group; one that
    fails is reported by its plugin's name and the others stay."""
    from harness.plugin_manager import plugins, report_failure

    for entry in plugins().datasets.in_order():
        target = entry.meta.get("data_commands")
        if not target:
            continue
        module, _, name = str(target).partition(":")
        try:
            getattr(importlib.import_module(module), name)(sub)
        except BaseException as exc:  # sys.exit(0) or KeyboardInterrupt: this plugin alone
            report_failure(
                entry.plugin, f"raised adding data commands: {type(exc).__name__}: {exc}"
            )


def _settings(items: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    settings: dict[str, dict[str, Any]] = {}
    for section, key, value in items:
        if section not in ("dataset", "encoder"):
            raise HarnessError(f"data audit --set {section}.{key}: only dataset.* and encoder.*")
        settings.setdefault(section, {})[key] = value
    return settings


def run_audit(args: argparse.Namespace) -> int:
    """Load the dataset as `harness run` would, audit it, print a table or JSON."""
    from harness import audit
    from harness.data import RetrievalDataset
    from harness.plan import RunRequest, dataset_options, default_cache_dir, plan
    from harness.plugin_manager import plugins

    if not 0 < args.threshold <= 1:
        raise HarnessError("data audit --threshold must be in (0, 1]")
    loaded = plugins()
    model = args.model or _baseline_model(loaded)
    task = args.task or _first_task(loaded, args.dataset)
    request = RunRequest(
        model=model if model not in (None, "none") else _any_model(loaded, task),
        strategy=DEFAULT_STRATEGY,
        task=task,
        dataset=args.dataset,
        data_dir=args.data_dir,
        split=args.split,
        languages=args.languages,
        settings=_settings(args.settings),
        cache_dir=args.cache_dir or default_cache_dir(),
        embedding_cache=False,
    )
    resolved = plan(request, loaded)
    dataset = resolved.dataset_loader(dataset_options(request, resolved))
    unknown = sorted(set(args.languages or ()) - set(dataset.partitions))
    if unknown:
        raise HarnessError(
            f"--languages: {unknown[0]!r} is not a partition of {args.dataset!r} "
            f"(known: {', '.join(sorted(dataset.partitions))})"
        )
    if not isinstance(dataset, RetrievalDataset):
        raise HarnessError(
            f"data audit: dataset {args.dataset!r} is no retrieval dataset (task {task!r})"
        )
    scorer = _scorer(request, resolved) if model not in (None, "none") else None
    report = audit.audit(dataset, audit.NearRule(threshold=args.threshold), scorer)
    report = {
        "task": resolved.card.name,
        "split": dataset_options(request, resolved).split,
        **report,
        "meta": dict(dataset.meta),
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"dataset {report['dataset']}, task {report['task']}, split {report['split']}")
        print(audit.render(report))
    return 0


def _scorer(request: Any, resolved: Any) -> Callable[[Any], dict[str, Any]]:
    """The saturation check: the model scored on a partition's evaluated split by the run's
    own task kind, task options and metrics (as harness.runner scores it), its main score
    averaged over the queries."""
    from harness.plan import encoder_options
    from harness.task_kind import EvaluationOptions

    model = resolved.encoder_factory(resolved.encoder_argument, encoder_options(request, resolved))
    metric = resolved.card.main_score
    options = EvaluationOptions(
        corpus_chunk_size=request.corpus_chunk_size,
        seed=request.seed,
        extra=dict(resolved.task_options),
        metrics=resolved.metrics,
        query_role=resolved.card.query_role,
    )

    def score(partition: Any) -> dict[str, Any]:
        rows = resolved.task_kind.evaluate(model, partition.eval, options).per_example
        value = sum(float(row[metric]) for row in rows) / max(1, len(rows))
        return {"model": request.model, "metric": metric, "value": value}

    return score


def _baseline_model(loaded: Any) -> str | None:
    """The encoder registered with ``audit_baseline=True`` (None when none is)."""
    found = [e.name for e in loaded.encoders.in_order() if e.meta.get("audit_baseline")]
    return found[0] if found else None


def _any_model(loaded: Any, task: str) -> str:
    """A model the plan accepts for `task` when none is scored (a plan resolves one; it is
    never built)."""
    kind = loaded.task_kinds.get(loaded.tasks.get(task).load().kind).entry.meta.get("model_kind")
    for entry in loaded.encoders.in_order():
        if entry.is_prefix or entry.meta.get("remote_code"):  # the plan would refuse it
            continue
        if kind is None or entry.meta.get("kind") == kind.name:
            return str(entry.name)
    raise HarnessError(f"data audit: no model is registered for task {task!r}")


def _first_task(loaded: Any, dataset: str) -> str:
    tasks = loaded.datasets.get(dataset).entry.meta.get("tasks")
    if not tasks:
        raise HarnessError(f"data audit: dataset {dataset!r} names no task; give --task")
    return str(tasks[0])
