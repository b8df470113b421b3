"""harness results in the layout of MTEB's results repository (harness export --format
mteb); harness.mteb_read reads such files back as reported leaderboard rows.

The layout (github.com/embeddings-benchmark/results, and mteb's own cache)::

    results/<model name, "/" as "__">/<model revision>/model_meta.json
                                                      /<TaskName>.json

A task file is mteb's ``TaskResult``: ``dataset_revision``, ``task_name``,
``mteb_version``, ``evaluation_time``, ``kg_co2_emissions`` and ``scores``:
split -> one entry per subset, each with ``main_score`` (the task's
``ndcg_at_10``), the ranking metrics under MTEB's names (``mrr_at_10``,
``recall_at_5``...; fractions in [0, 1] as harness stores them), ``hf_subset``
and ``languages``. What is exported, and what is refused (docs/mteb.md):

- a result is an MTEB task's number only when it was scored on that task's data:
  the task is found from the hub dataset the run read (``CoIR-Retrieval/cosqa``
  -> ``CosQA``), or named with ``--task-name`` by a user who states that the data
  is the task's; anything else (``local``, CoCLR's CoSQA codebase, a ``--limit``
  run) is refused with one line;
- only strategy ``none`` is the model's own number; an adapted result is written
  under ``<model>+<strategy>`` with ``adapted_from`` the model, never as the model;
- ``mteb_version`` is null: mteb did not compute these numbers, harness did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import atomic
from harness.compare import Run, load_runs
from harness.errors import HarnessError, InputError
from harness.mteb_tasks import (
    BY_HUB_PATH,
    MTEBTask,
    card_queries,
    hub_paths,
    metric_key,
    task_named,
)

NO_REVISION = "no_revision_available"
"""The revision folder mteb uses for a model without a known revision."""
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class _TaskFile:
    folder: Path
    task: MTEBTask
    revisions: set[str] = field(default_factory=set)
    scores: dict[str, dict[str, tuple[dict[str, Any], Path]]] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = ""


def export_mteb(
    root: Path,
    out: Path,
    *,
    task_names: Mapping[str, str] | None = None,
    model_name: str | None = None,
) -> list[Path]:
    """Write every result under `root` as MTEB result files under `out`; returns the
    files written. `task_names`: partition -> MTEB task (key ``""``: every partition)."""
    runs = load_runs(root)
    files: dict[Path, _TaskFile] = {}
    metas: dict[Path, dict[str, Any]] = {}
    variants = _variants(runs)
    for run in runs:
        task = _task_of(run, task_names or {})
        subset = task.subset_of(run.result.partition)
        if subset is None:
            raise InputError(
                f"partition {run.result.partition!r} is none of {task.name}'s subsets "
                f"({', '.join(task.subsets)})",
                path=run.path,
            )
        name, meta = _model_meta(run, model_name, variants)
        folder = out / "results" / name.replace("/", "__").replace(" ", "_") / meta["revision"]
        stored = metas.setdefault(folder, meta)
        if {**stored, "training_datasets": None} != meta:
            raise InputError(
                f"{name} was run with other settings here than elsewhere in {root} "
                "(dimension or max length): export one setting at a time",
                path=run.path,
            )
        if stored["adapted_from"]:  # trained on the task's own data: never zero-shot on it
            stored["training_datasets"] = sorted({*(stored["training_datasets"] or []), task.name})
        target = files.setdefault(folder / f"{task.name}.json", _TaskFile(folder, task))
        split = task.split
        entries = target.scores.setdefault(split, {})
        if subset in entries:
            raise InputError(
                f"would be written to {folder / (task.name + '.json')} as {split}/{subset}, "
                f"as {entries[subset][1]} is already: export one of them (e.g. one seed's "
                "store, or name the model with --model-name)",
                path=run.path,
            )
        entries[subset] = (_entry(run, task, subset), run.path)
        target.revisions.add(_dataset_revision(run, task))
        target.seconds += sum(float(v) for k, v in run.result.timings.items() if k.endswith("_s"))
        target.created = max(target.created, run.result.created)
    unused = sorted(set(task_names or {}) - {r.result.partition for r in runs} - {""})
    if unused:
        raise HarnessError(f"--task-name {unused[0]}=...: no result of partition {unused[0]!r}")
    written = [(path, _task_json(f)) for path, f in sorted(files.items())]
    written += [(folder / "model_meta.json", _dump(meta)) for folder, meta in sorted(metas.items())]
    try:
        atomic.replace_together(written)
    except OSError as exc:
        raise HarnessError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return [path for path, _ in written]


def _task_of(run: Run, task_names: Mapping[str, str]) -> MTEBTask:
    named = task_names.get(run.result.partition) or task_names.get("")
    read = hub_paths(run.result.config.get("dataset") or {})
    found = task_named(named) if named else None
    for hub_path in read if found is None else []:
        found = BY_HUB_PATH.get(hub_path.lower(), found)
    if found is None:
        source = f"hub dataset {', '.join(read)}" if read else "data that no MTEB task reads"
        raise InputError(
            f"dataset {run.result.dataset!r} ({source}) is not an MTEB task's data, so its "
            "numbers are not MTEB's; pass --task-name NAME only if the data is that task's",
            path=run.path,
        )
    split = run.result.config.get("split") or found.split
    queries = card_queries(run.result.task)
    if (queries, split) != (found.queries, found.split):
        raise InputError(
            f"task {run.result.task} (queries: {queries or 'none'}) on split {split!r}, but "
            f"{found.name} has {found.queries} queries on split {found.split!r}: "
            "not that task's number",
            path=run.path,
        )
    return found


def _dataset_revision(run: Run, task: MTEBTask) -> str:
    """The dataset revision the run read (a hub commit it recorded), else the task's."""
    hub = (run.result.config.get("dataset") or {}).get("hub")
    for read in hub.values() if isinstance(hub, dict) else []:
        if isinstance(read, dict) and read.get("resolved_revision"):
            return str(read["resolved_revision"])
    return task.revision


def _entry(run: Run, task: MTEBTask, subset: str) -> dict[str, Any]:
    result = run.result
    if result.config.get("limit") is not None:
        raise InputError(
            f"scored with --limit {result.config['limit']} (a part of the task's queries): "
            "not the task's number",
            path=run.path,
        )
    if "ndcg@10" not in result.metrics:
        raise InputError(
            f"has no ndcg@10, MTEB's main score (it has: {', '.join(sorted(result.metrics))})",
            path=run.path,
        )
    scores: dict[str, Any] = {"main_score": result.metrics["ndcg@10"].value}
    for name, cell in sorted(result.metrics.items()):
        key = metric_key(name)
        if key is not None:
            scores[key] = cell.value
    return {**scores, "hf_subset": subset, "languages": list(task.subsets[subset])}


def _variants(runs: Sequence[Run]) -> dict[tuple[str, str], set[str]]:
    """(model, strategy) -> the distinct configurations (identity hashes) stored."""
    found: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        identity = json.dumps(run.result.config.get("identity") or {}, sort_keys=True)
        found.setdefault((run.result.model, run.result.strategy), set()).add(identity)
    return found


def _model_meta(
    run: Run, model_name: str | None, variants: Mapping[tuple[str, str], set[str]]
) -> tuple[str, dict[str, Any]]:
    """The MTEB model name a result is written under, and its ``model_meta.json``."""
    result = run.result
    info = result.config.get("encoder_info") or {}
    base = model_name or str(info.get("model") or result.model.removeprefix("hf:"))
    if not _HUB_NAME.match(base) or Path(base).exists():
        raise InputError(
            f"model {result.model!r} has no hub name (MTEB names a model 'organisation/name'); "
            "give one with --model-name ORG/NAME",
            path=run.path,
        )
    name = base
    if result.strategy != "none":  # an adapted model is never the base model's number
        name = f"{base}+{result.strategy}"
        if len(variants[(result.model, result.strategy)]) > 1:
            name += f"-{result.config_hash[:8]}"
    revision = str(info.get("commit") or info.get("revision") or NO_REVISION)
    meta = {
        "name": name,
        "revision": revision,
        "release_date": None,
        "languages": None,
        "n_parameters": None,
        "memory_usage_mb": None,
        "max_tokens": info.get("max_length"),
        "embed_dim": info.get("dim"),
        "license": None,
        "open_weights": None,
        "public_training_code": None,
        "public_training_data": None,
        "framework": ["PyTorch"],
        "similarity_fn_name": "cosine",
        "use_instructions": _uses_prompts(info),
        "training_datasets": None,
        "adapted_from": base if name != base else None,
        "modalities": ["text"],
        "loader": None,
    }
    return name, meta


def _uses_prompts(info: Mapping[str, Any]) -> bool | None:
    """Whether the encoder put a prompt before its texts (None: it did not record it)."""
    prompts = info.get("prompts")
    return any(bool(p) for p in prompts.values()) if isinstance(prompts, dict) else None


def _task_json(task_file: _TaskFile) -> str:
    revisions = sorted(task_file.revisions)
    if len(revisions) > 1:
        raise HarnessError(
            f"{task_file.folder}: {task_file.task.name} was scored on dataset revisions "
            f"{', '.join(revisions)}; export one revision at a time"
        )
    created = task_file.created
    date = datetime.fromisoformat(created).timestamp() if created else None
    document = {
        "dataset_revision": revisions[0],
        "task_name": task_file.task.name,
        "mteb_version": None,
        "scores": {
            split: [entries[s][0] for s in sorted(entries)]
            for split, entries in sorted(task_file.scores.items())
        },
        "evaluation_time": task_file.seconds,
        "kg_co2_emissions": None,
        "date": date,
    }
    return _dump(document)


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
