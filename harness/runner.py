"""One run: task card -> dataset -> model -> strategy -> task kind -> result store.

Names are resolved and checked before anything heavy happens, so a typo
fails in milliseconds; the model is built only when some partition still
needs computing (a rerun of a complete run loads nothing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__, atomic, distributed
from harness.data import DatasetOptions, RetrievalDataset
from harness.encoder import EncoderFactory, EncoderOptions
from harness.errors import HarnessError
from harness.extensions import ModelKind
from harness.identity import label, replicate_key, run_identity
from harness.options import SECTIONS, Option, check_finite, check_keys, options_of
from harness.plugin_manager import Loaded, plugins
from harness.progress import console
from harness.registry import Registry
from harness.results import (
    MetricValue,
    Result,
    completed,
    config_hash,
    result_path,
    write_result,
)
from harness.stats import summarize
from harness.strategy import Strategy, StrategyContext
from harness.task_kind import Evaluation, EvaluationOptions, TaskKind
from harness.taskcard import TaskCard


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness"))


@dataclass
class RunRequest:
    model: str
    strategy: str
    task: str
    dataset: str | None = None
    data_dir: Path | None = None
    split: str | None = None
    languages: list[str] | None = None
    limit: int | None = None
    results_dir: Path = Path("results")
    cache_dir: Path = field(default_factory=default_cache_dir)
    overwrite: bool = False
    seed: int = 0
    device: str = "auto"
    max_length: int = 512
    batch_size: int = 32
    pooling: str | None = None
    dtype: str = "float32"
    n_resamples: int = 1000
    corpus_chunk_size: int = 4096
    embedding_cache: bool = True  # reuse embeddings from <cache_dir>/embeddings (results equal)
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # a variant of the strategy in a matrix: results go to <strategy>@<label>
    record: dict[str, Any] = field(default_factory=dict)  # kept in each result's config, unhashed
    trust_remote_code: bool = False  # --trust-remote-code: a hub model may run code it ships


@dataclass
class PartitionOutcome:
    partition: str
    result: Result
    path: Path
    reused: bool


def package_versions() -> dict[str, str]:
    versions = {"harness": __version__, "python": sys.version.split()[0]}
    for name in ("torch", "transformers", "peft"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def git_sha() -> str:
    """The commit of the harness source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@dataclass
class Plan:
    """Everything a run resolved from the names the user typed."""

    card: TaskCard
    dataset_name: str
    dataset_loader: Callable[[DatasetOptions], Any]
    task_kind: TaskKind
    strategy_cls: type[Strategy]
    encoder_factory: EncoderFactory
    encoder_argument: str | None
    # the options each --set section's owner declares (None: it declares none)
    options: dict[str, tuple[Option, ...] | None] = field(default_factory=dict)
    model_kind: ModelKind | None = None  # what the task kind needs of --model
    # the metrics registered for the task kind, as the functions it calls per example
    metrics: dict[str, Any] = field(default_factory=dict)
    registries: dict[str, Registry] = field(default_factory=dict)  # handed to the strategy
    # the options the run scores with: the card's ``[options]``, then ``--set task.*`` (merged
    # once, here; the config, the strategy and the task kind all get this one dict)
    task_options: dict[str, Any] = field(default_factory=dict)

    def declared(self) -> dict[str, tuple[Option, ...]]:
        return {section: found or () for section, found in self.options.items()}


def _default_dataset(card: Any, loaded: Loaded, data_dir: Path | None) -> str:
    """The card's default dataset, or its ``options.fallback_dataset`` when the default
    was registered with ``available="module:function"`` and that says, given --data-dir,
    that its data is absent (c2c: XLCoST when its files are given, else the local proxy)."""
    fallback = card.options.get("fallback_dataset")
    check = loaded.datasets.get(card.default_dataset).entry.meta.get("available")
    if not fallback or not check:
        return str(card.default_dataset)
    module, _, name = str(check).partition(":")
    if getattr(importlib.import_module(module), name)(data_dir):
        return str(card.default_dataset)
    console().print(f"task {card.name}: no {card.default_dataset} data given; using {fallback}")
    return str(fallback)


def plan(request: RunRequest, loaded: Loaded | None = None) -> Plan:
    """Resolve and cross-check every name; raises HarnessError (exit 2) on a mismatch."""
    loaded = loaded or plugins()
    card = loaded.tasks.get(request.task).load()
    dataset_name = request.dataset or _default_dataset(card, loaded, request.data_dir)
    dataset_entry = loaded.datasets.get(dataset_name).entry
    tasks = dataset_entry.meta.get("tasks")
    if tasks and card.name not in tasks:
        raise HarnessError(
            f"dataset {dataset_name!r} has no data for task {card.name!r} "
            f"(it serves: {', '.join(tasks)})"
        )
    strategy_cls = loaded.strategies.get(request.strategy).load()
    if strategy_cls.task_kinds and card.kind not in strategy_cls.task_kinds:
        raise HarnessError(
            f"strategy {request.strategy!r} does not apply to task {card.name!r} "
            f"(a {card.kind} task; it applies to: {', '.join(strategy_cls.task_kinds)})"
        )
    if "trust_remote_code" in request.settings.get("encoder", {}):
        raise HarnessError(
            "--set encoder.trust_remote_code: remote code runs only with the "
            "--trust-remote-code flag of harness run"
        )
    kind_entry = loaded.task_kinds.get(card.kind).entry
    needed = _model_kinds(loaded).get(card.kind)
    encoder = loaded.encoders.get(request.model, needed.name if needed else None)
    _check_model_kind(request.model, encoder.entry.meta.get("kind"), card, loaded)
    options = {
        "dataset": _declared(dataset_entry.meta),
        "encoder": _declared(encoder.entry.meta),
        "strategy": _declared(loaded.strategies.get(request.strategy).entry.meta),
        "task": _task_options(card, kind_entry.meta),
    }
    owners = {
        "dataset": f"dataset {dataset_name!r}",
        "encoder": f"model {request.model!r}",
        "strategy": f"strategy {request.strategy!r}",
        "task": f"task {card.name!r}",
    }
    for section, values in request.settings.items():
        if section not in SECTIONS:
            raise HarnessError(
                f"--set {section}.*: unknown section {section!r} (sections: {', '.join(SECTIONS)})"
            )
        declared = options[section]
        if declared is not None:
            check_keys(section, owners[section], values, declared)
        for key, value in values.items():
            check_finite(section, key, value)
    return Plan(
        card=card,
        dataset_name=dataset_name,
        dataset_loader=dataset_entry.load(),
        task_kind=loaded.task_kinds.get(card.kind).load()(),
        strategy_cls=strategy_cls,
        encoder_factory=encoder.load(),
        encoder_argument=encoder.argument,
        options=options,
        model_kind=_model_kinds(loaded).get(card.kind),
        metrics=_metric_functions(loaded, card.kind),
        registries=loaded.registries,
        task_options={**card.options, **request.settings.get("task", {})},
    )


def _metric_functions(loaded: Loaded, task_kind: str) -> dict[str, Any]:
    """The functions of the metrics registered for `task_kind`, in registration order; a
    metric registered by its name alone is computed by the task kind itself."""
    entries = [e for e in loaded.metrics.in_order() if e.meta.get("task_kind") == task_kind]
    return {e.name: e.load() for e in entries if callable(e.target) or ":" in str(e.target)}


def _model_kinds(loaded: Loaded) -> dict[str, ModelKind]:
    """The task kinds' model kinds (``model_kind`` of their registration), by task kind."""
    return {e.name: e.meta["model_kind"] for e in loaded.task_kinds if "model_kind" in e.meta}


def _check_model_kind(model: str, kind: str | None, card: Any, loaded: Loaded) -> None:
    """A model of one kind (``kind`` of its registration) is refused for a task kind that
    needs another; a model that declares no kind (``hf:``) serves either."""
    kinds = _model_kinds(loaded)
    needed = kinds.get(card.kind)
    if kind is None or needed is None or kind == needed.name:
        return
    have = next((k.label for k in kinds.values() if k.name == kind), f"a {kind} model")
    examples = [e.name for e in loaded.encoders if e.meta.get("kind") == needed.name]
    hint = f" (e.g. --model {' or '.join(examples[:2])})" if examples else ""
    raise HarnessError(f"task {card.name!r} needs {needed.label}{hint}; model {model!r} is {have}")


def _declared(meta: dict[str, Any]) -> tuple[Option, ...] | None:
    """The options an entry declares; None when it declares none (any key is accepted and
    counts for the identity)."""
    return options_of(meta["options"]) if "options" in meta else None


def _task_options(card: Any, kind_meta: dict[str, Any]) -> tuple[Option, ...] | None:
    """A task's options: its card's ``[options]`` and what its task kind declares."""
    declared = _declared(kind_meta)
    if declared is None:
        return None
    from_card = tuple(Option(k, v, "from the task card") for k, v in card.options.items())
    names = {o.name for o in declared}
    return declared + tuple(o for o in from_card if o.name not in names)


def dataset_options(request: RunRequest, resolved: Plan) -> DatasetOptions:
    """What the dataset loader is asked for (equal options load an equal dataset)."""
    return DatasetOptions(
        task=resolved.card.name,
        cache_dir=request.cache_dir,
        data_dir=request.data_dir,
        split=request.split or resolved.card.eval_split,
        languages=request.languages,
        limit=request.limit,
        seed=request.seed,
        extra=dict(request.settings.get("dataset", {})),
        queries=resolved.card.queries,
    )


def _load_dataset(request: RunRequest, resolved: Plan) -> RetrievalDataset:
    dataset = resolved.dataset_loader(dataset_options(request, resolved))
    if not dataset.partitions:
        raise HarnessError(f"dataset {resolved.dataset_name!r} yielded no partitions")
    if request.languages:
        unknown = sorted(set(request.languages) - set(dataset.partitions))
        if unknown:
            raise HarnessError(
                f"--languages: {unknown[0]!r} is not a partition of {resolved.dataset_name!r} "
                f"(known: {', '.join(sorted(dataset.partitions))})"
            )
    return dataset


def _run_config(
    request: RunRequest, resolved: Plan, dataset: RetrievalDataset, strategy_config: dict[str, Any]
) -> dict[str, Any]:
    given = {  # what the user gave, so `harness leaderboard` can print the command again
        **({"data_dir": str(request.data_dir)} if request.data_dir else {}),
        **({"settings": request.settings} if any(request.settings.values()) else {}),
    }
    return {
        **given,
        # what the user gave that can change a number (hashed; --set values included)
        "identity": run_identity(request, resolved.declared(), _default_dtype(resolved)),
        "model": request.model,
        "encoder": {
            "max_length": request.max_length,
            "pooling": request.pooling,
            "dtype": request.dtype,
            "trust_remote_code": request.trust_remote_code,
        },
        "strategy": strategy_config,
        "task": resolved.card.name,
        "dataset": {"name": resolved.dataset_name, **dict(dataset.meta)},
        "split": request.split or resolved.card.eval_split,
        "limit": request.limit,
        "seed": request.seed,
        "n_resamples": request.n_resamples,
        "task_options": dict(resolved.task_options),
    }


def _default_dtype(resolved: Plan) -> str:
    """What --dtype auto resolves to for this task: its task kind's model kind says
    (``auto``: the model picks by device, as causal LMs do; else float32)."""
    return resolved.model_kind.default_dtype if resolved.model_kind else "float32"


def strategy_context(request: RunRequest, resolved: Plan) -> StrategyContext:
    return StrategyContext(
        task=resolved.card,
        cache_dir=request.cache_dir,
        seed=request.seed,
        device=request.device,
        options=dict(request.settings.get("strategy", {})),
        model=request.model,
        model_options={
            "pooling": request.pooling,
            "max_length": request.max_length,
            **request.settings.get("encoder", {}),
        },
        task_options=dict(resolved.task_options),
        registries=resolved.registries,
        evaluate=scorer(request, resolved),
    )


def scorer(request: RunRequest, resolved: Plan) -> Callable[[Any, Sequence[Any]], Evaluation]:
    """Scores a model on examples as the run does: its task kind, task options, seed and
    metrics (a strategy's controls are scored so)."""
    options = EvaluationOptions(
        seed=request.seed,
        extra=dict(resolved.task_options),
        metrics=resolved.metrics,
        query_role=resolved.card.query_role,
    )

    def evaluate(model: Any, examples: Sequence[Any]) -> Evaluation:
        return resolved.task_kind.evaluate(model, list(examples), options)

    return evaluate


def encoder_options(request: RunRequest, resolved: Plan) -> EncoderOptions:
    return EncoderOptions(
        device=request.device,
        max_length=request.max_length,
        batch_size=request.batch_size,
        pooling=request.pooling,
        dtype=request.dtype,
        extra=dict(request.settings.get("encoder", {})),
        trust_remote_code=request.trust_remote_code,
        cache_dir=request.cache_dir,
    )


class Sharing:
    """What a caller running many runs shares between them (harness.matrix_run overrides
    it); this base shares nothing: each run loads its dataset and builds its model."""

    def dataset(self, request: RunRequest, resolved: Plan) -> Any:
        return _load_dataset(request, resolved)

    def model(self, request: RunRequest, resolved: Plan, options: EncoderOptions) -> Any:
        return resolved.encoder_factory(resolved.encoder_argument, options)

    def scoring_model(self, adapted: Any, base: Any, strategy: Any) -> Any:
        """The model that scores a partition, given what the strategy returned for it."""
        return adapted


@dataclass
class PreparedRun:
    """A run resolved down to its result files, before any model is built."""

    request: RunRequest
    resolved: Plan
    dataset: Any
    strategy: Any
    config: dict[str, Any]
    partitions: list[tuple[str, Path, dict[str, Any]]]  # (name, result file, its config)

    def stored(self, path: Path, partition_config: dict[str, Any]) -> Result | None:
        """The complete result at `path` made with this config (never with --overwrite)."""
        if self.request.overwrite:
            return None
        return completed(path, config_hash(partition_config))


def prepare(
    request: RunRequest, sharing: Sharing | None = None, resolved: Plan | None = None
) -> PreparedRun:
    """Resolve the names (unless `resolved` is their plan), load the dataset, build the
    strategy and the config; no model yet."""
    sharing = sharing or Sharing()
    resolved = resolved or plan(request)
    atomic.check_writable(request.results_dir, "--results")
    atomic.check_writable(request.cache_dir, "--cache-dir")
    if request.dtype == "auto":
        request = dataclasses.replace(request, dtype=_default_dtype(resolved))
    dataset = sharing.dataset(request, resolved)
    strategy = resolved.strategy_cls(strategy_context(request, resolved))
    config = _run_config(request, resolved, dataset, strategy.config(dataset))
    names = sorted(dataset.partitions)
    if request.languages:
        names = [n for n in names if n in request.languages]
    # runs that differ in a value that can change a number never share a folder: the label
    # says what differs from a plain run (``none@dim=8``); the leaderboard shows it
    variant = label(config["identity"])
    given = {"model": request.model, "strategy": request.strategy, "task": resolved.card.name}
    given["dataset"] = resolved.dataset_name
    record: dict[str, Any] = {
        "replicate_of": replicate_key(config["identity"], {**given, "split": request.split}),
        **({"variant": {"label": variant, "settings": config["identity"]}} if variant else {}),
    }
    # a matrix shows only what tells its cells apart (its own label and variant); the
    # folder still names everything, so no two identities share it
    shown = request.record["variant"]["label"] if "variant" in request.record else variant
    request = dataclasses.replace(request, label=shown, record={**record, **request.record})
    folder = f"{request.strategy}@{variant}" if variant else request.strategy
    # another split than the card's own gets its own folder: rc's in-repo and cross-repo
    # results of one repository must not overwrite each other
    split = request.split or resolved.card.eval_split
    stored_as = resolved.dataset_name
    if split != resolved.card.eval_split:
        stored_as = f"{stored_as}@{split}"
        config = {**config, "stored_dataset": stored_as}  # the leaderboard selects by it
    partitions: list[tuple[str, Path, dict[str, Any]]] = []
    for name in names:
        path = result_path(
            request.results_dir,
            task=resolved.card.name,
            dataset=stored_as,
            model=request.model,
            strategy=folder,
            partition=name,
        )
        clash = next((other for other, known, _ in partitions if known == path), None)
        if clash is not None:
            raise HarnessError(f"partitions {clash!r} and {name!r} would share the file {path}")
        partitions.append((name, path, {**config, "partition": name}))
    return PreparedRun(request, resolved, dataset, strategy, config, partitions)


def run(request: RunRequest, sharing: Sharing | None = None) -> list[PartitionOutcome]:
    """Evaluate every requested partition; complete ones with the same config are reused."""
    return execute(prepare(request, sharing), sharing)


def execute(prepared: PreparedRun, sharing: Sharing | None = None) -> list[PartitionOutcome]:
    """Score the partitions of a prepared run that are not complete yet."""
    sharing = sharing or Sharing()
    request, resolved = prepared.request, prepared.resolved
    dataset, strategy = prepared.dataset, prepared.strategy
    if request.limit is not None:
        console().print(
            f"[yellow]warning:[/] --limit {request.limit}: numbers from a limited run are not "
            "comparable with full runs or published ones"
        )
    outcomes: list[PartitionOutcome] = []
    pending: list[tuple[str, Path, dict[str, Any]]] = []
    for name, path, partition_config in prepared.partitions:
        done = prepared.stored(path, partition_config)
        if done is not None:
            outcomes.append(PartitionOutcome(name, done, path, reused=True))
            console().print(f"{name}: complete in {path}, skipped (--overwrite to redo)")
        else:
            pending.append((name, path, partition_config))
    if not pending:
        return outcomes

    distributed.setup(request.device)  # under torchrun: join the ranks (no-op otherwise)
    started = time.perf_counter()
    model = sharing.model(request, resolved, encoder_options(request, resolved))
    load_s = time.perf_counter() - started
    strategy.prepare(model, dataset)
    versions, sha = package_versions(), git_sha()
    scoring_options = dict(resolved.task_options)
    embeddings = request.cache_dir / "embeddings" if request.embedding_cache else None
    identity = prepared.config["identity"]
    model_identity = {  # what the base model is built from (the embedding cache's key)
        "model": request.model,
        "max_length": request.max_length,
        "pooling": request.pooling,
        "dtype": request.dtype,
        "trust_remote_code": request.trust_remote_code,
        "encoder": (identity.get("settings") or {}).get("encoder", {}),
    }
    if request.overwrite:
        console().print(
            "--overwrite: results and embeddings are computed afresh; what strategies trained "
            f"(adapters, ...) is reused from {request.cache_dir} when its key (everything "
            "that determines it) matches"
        )
    for name, path, partition_config in pending:
        partition = dataset.partitions[name]
        adapted = sharing.scoring_model(strategy.model_for(model, partition), model, strategy)
        info = dict(getattr(adapted, "info", {}))
        evaluation = resolved.task_kind.evaluate(
            adapted,
            partition.eval,
            EvaluationOptions(
                corpus_chunk_size=request.corpus_chunk_size,
                seed=request.seed,
                extra=scoring_options,
                embedding_cache=embeddings,
                model_identity=model_identity,
                refresh_cache=request.overwrite,
                metrics=resolved.metrics,
                query_role=resolved.card.query_role,
            ),
        )
        if not distributed.is_main():
            continue  # under torchrun, rank 0 alone summarises and writes
        metrics = resolved.card.metrics
        summary = summarize(
            evaluation.per_example, metrics, n_resamples=request.n_resamples, seed=request.seed
        )
        result = Result(
            model=request.model,
            strategy=request.strategy,
            task=resolved.card.name,
            dataset=resolved.dataset_name,
            partition=name,
            metrics={k: MetricValue(**v) for k, v in summary.items()},
            main_score=resolved.card.main_score,
            n_examples=len(evaluation.per_example),
            n_candidates=evaluation.n_candidates,
            config={**partition_config, "encoder_info": info, **request.record},
            versions=versions,
            git_sha=sha,
            seed=request.seed,
            device=str(info.get("device", request.device)),
            timings={"model_load_s": load_s, **evaluation.timings},
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            config_hash=config_hash(partition_config),
        )
        try:
            write_result(path, result, evaluation.per_example)
        except OSError as exc:  # a full disk, a folder gone read-only: what was kept is whole
            kept = ", ".join(o.partition for o in outcomes) or "no partition"
            raise HarnessError(
                f"cannot write {path}: {exc.strerror or exc}; {name} was not stored "
                f"(its previous result, if any, is unchanged); kept: {kept}"
            ) from None
        outcomes.append(PartitionOutcome(name, result, path, reused=False))
    return sorted(outcomes, key=lambda o: o.partition)
