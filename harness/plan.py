"""A run's request and its plan: the names the user typed, resolved and cross-checked.

`RunRequest` is the one typed configuration of a run, whether it came from the command
line, a --config file, a matrix cell or a baseline's suite (harness.run_options parses all
of them). `plan` resolves every name against the registries and checks each --set option
against what its owner declares, before anything heavy happens, so a typo fails in
milliseconds; the options each plugin is built with (dataset, encoder, strategy, scoring)
are derived from the request and its plan here, once. harness.runner executes a plan.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import DatasetOptions
from harness.encoder import EncoderFactory, EncoderOptions
from harness.errors import HarnessError
from harness.extensions import ModelKind
from harness.options import SECTIONS, Option, check_finite, check_keys, options_of
from harness.plugin_manager import Loaded, plugins
from harness.progress import console
from harness.registry import Registry
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
    max_length: int | None = None  # None: the model's own (EncoderOptions.max_length)
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
    # the encoder's ``fingerprint=`` registration: (argument, options) -> what identifies the
    # weights it would load, without loading them (None: it does not say)
    encoder_fingerprint: Callable[[str | None, EncoderOptions], str | None] | None = None

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
    if strategy_cls.trains_model and encoder.entry.meta.get("trainable") is False:
        raise HarnessError(
            f"strategy {request.strategy!r} trains the model's weights; model "
            f"{request.model!r} has none (registered trainable=False): pick a strategy "
            "that scores the model as it is"
        )
    if encoder.entry.meta.get("remote_code") and not request.trust_remote_code:
        raise HarnessError(
            f"model {request.model!r} runs Python code it ships (registered remote_code=True): "
            "give --trust-remote-code if you trust it"
        )
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
        encoder_fingerprint=_fingerprint_function(encoder),
    )


def _fingerprint_function(encoder: Any) -> Any:
    """The callable an encoder registers as ``fingerprint="module:function"``, or None."""
    target = encoder.entry.meta.get("fingerprint")
    if target is None:
        return None
    from harness.registry import Entry

    entry = encoder.entry
    return Entry("encoder fingerprint", entry.name, target, plugin=entry.plugin).load()


def model_fingerprint(request: RunRequest, resolved: Plan) -> str | None:
    """What identifies the weights the run's model would load, as its encoder declares it
    (a pretrained model's cache key, say); None when it declares nothing. It joins the
    result's config and the base options of every trained artifact, so weights that change
    under the same name never reuse a number or an adapter made with the old ones."""
    if resolved.encoder_fingerprint is None:
        return None
    options = encoder_options(request, resolved)
    value = resolved.encoder_fingerprint(resolved.encoder_argument, options)
    return None if value is None else str(value)


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


def _kind_dtype(resolved: Plan) -> str:
    return resolved.model_kind.default_dtype if resolved.model_kind else "float32"


def resolve_dtype(resolved: Plan, dtype: str, device: str = "auto") -> str:
    """What a run computes in. ``auto``: the task kind's model kind says (``auto``: the
    model picks by device, as causal LMs do; ``native``: as below; else that dtype);
    ``native``: bfloat16 where `device` computes it natively (`harness.hardware`), else
    float32; anything else as given."""
    if dtype == "auto":
        dtype = _kind_dtype(resolved)
    if dtype == "native":
        from harness.hardware import auto_dtype

        return auto_dtype(device)
    return dtype


def identity_dtype(resolved: Plan) -> str:
    """The dtype a result's identity leaves unnamed: float32 for a ``native`` kind, so a
    bfloat16 result always says so and never matches a float32 one."""
    kind = _kind_dtype(resolved)
    return "float32" if kind == "native" else kind


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
            **({"weights": weights} if (weights := model_fingerprint(request, resolved)) else {}),
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
