"""One run: task card -> dataset -> model -> strategy -> task kind -> result store.

A request is planned first (harness.plan: names resolved and checked before
anything heavy happens, so a typo fails in milliseconds); `prepare` then loads
the dataset and fixes each partition's result file and configuration, and
`execute` builds the model only when some partition still needs computing (a
rerun of a complete run loads nothing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__, atomic, distributed
from harness.data import RetrievalDataset
from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.identity import label, replicate_key, run_identity
from harness.plan import (
    Plan,
    RunRequest,
    dataset_options,
    encoder_options,
    identity_dtype,
    model_fingerprint,
    plan,
    resolve_dtype,
    strategy_context,
)
from harness.progress import console
from harness.results import (
    MetricValue,
    Result,
    completed,
    config_hash,
    result_path,
    write_result,
)
from harness.stats import breakdowns, summarize
from harness.task_kind import EvaluationOptions


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
        "identity": run_identity(request, resolved.declared(), identity_dtype(resolved)),
        "model": request.model,
        "encoder": {
            "max_length": request.max_length,
            "pooling": request.pooling,
            "dtype": request.dtype,
            "trust_remote_code": request.trust_remote_code,
            # what identifies the weights, where the encoder declares it (tiny-code-lm's key)
            **({"weights": weights} if (weights := model_fingerprint(request, resolved)) else {}),
        },
        "strategy": strategy_config,
        "task": resolved.card.name,
        "dataset": {"name": resolved.dataset_name, **dict(dataset.meta)},
        "split": request.split or resolved.card.eval_split,
        "limit": request.limit,
        "seed": request.seed,
        "n_resamples": request.n_resamples,
        "task_options": dict(resolved.task_options),
        # a result summarised by other fields is another result (never one without them)
        **({"breakdowns": list(resolved.card.breakdowns)} if resolved.card.breakdowns else {}),
    }


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
    request = dataclasses.replace(
        request, dtype=resolve_dtype(resolved, request.dtype, request.device)
    )
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
        by_field = breakdowns(
            evaluation.per_example,
            resolved.card.breakdowns,
            metrics,
            n_resamples=request.n_resamples,
            seed=request.seed,
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
            breakdowns=by_field,
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
