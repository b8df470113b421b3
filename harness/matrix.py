"""Matrices of runs: lists of models, strategies, tasks and settings expanded into cells.

`expand` makes one cell per combination: the names (models, tasks, datasets,
strategies) crossed, times the hyperparameter lists crossed or zipped.
`resolve` checks every name first (an unknown one is fatal before anything
runs), plans each cell (one whose strategy, dataset or model does not fit its
task is skipped with the reason), prepares the rest (datasets loaded once),
runs a cell whose configuration equals an earlier cell's only once, and
labels each remaining cell with the settings that tell it from its siblings
(``r=8``: results under ``<strategy>@r_8``). `estimate` counts the work left.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from harness.errors import HarnessError
from harness.exp_config import NAMES, Spec, Sweep
from harness.identity import show
from harness.plan import RunRequest, plan
from harness.plugin_manager import Loaded, plugins
from harness.results import config_hash
from harness.runner import PreparedRun, Sharing, prepare
from harness.strategy import PlannedAdapter

FIELD_OF_OPTION = {"results": "results_dir", "bootstrap": "n_resamples"}
STEP_COST = 100
"""One training step costs about as much as encoding this many texts (MiniLM, 2 CPU
cores: ~2.5 s a step of 32 pairs at 128 tokens, ~25 ms a text at up to 512)."""


@dataclass
class Cell:
    """One run of a matrix."""

    number: int  # 1-based, in expansion order
    request: RunRequest
    axes: dict[str, Any]  # the values this cell takes from the hyperparameter lists
    prepared: PreparedRun | None = None
    skipped: str = ""  # why it does not apply
    same_as: int | None = None  # the earlier cell with the same configuration

    @property
    def runnable(self) -> bool:
        return self.prepared is not None and self.same_as is None

    @property
    def title(self) -> str:
        r = self.request
        dataset = self.prepared.resolved.dataset_name if self.prepared else r.dataset or "-"
        label = f" {r.label}" if r.label else ""
        return f"{r.task}/{dataset} {r.model} {r.strategy}{label}"

    @property
    def axes_text(self) -> str:
        return ",".join(f"{k}={show(v)}" for k, v in self.axes.items()) or "-"


def _request(
    values: dict[str, Any], settings: dict[str, Any], flag_settings: dict[str, str]
) -> RunRequest:
    nested: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    for name, key in flag_settings.items():  # a plugin's flag: the setting it declares
        if values.get(name) is not None:
            section, _, option = key.partition(".")
            nested.setdefault(section, {})[option] = values[name]
    option_of = {f: o for o, f in FIELD_OF_OPTION.items()}
    kwargs = {}
    for f in fields(RunRequest):
        value = values.get(option_of.get(f.name, f.name))
        if f.name not in ("settings", "label", "record") and value is not None:
            kwargs[f.name] = value
    return RunRequest(**kwargs, settings=nested)


def _combinations(axes: dict[str, list[Any]], sweep: str) -> list[dict[str, Any]]:
    if not axes:
        return [{}]
    if sweep == "zip":
        lengths = {key: len(values) for key, values in axes.items()}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise HarnessError(f"--sweep zip needs lists of one length: {listed}")
        return [dict(zip(axes, values, strict=True)) for values in zip(*axes.values(), strict=True)]
    if sweep != "cross":
        raise HarnessError(f"--sweep must be cross or zip, got {sweep!r}")
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def expand(spec: Spec) -> list[Cell]:
    """Every cell of the experiment, models outermost (a model is then loaded once)."""
    names = {key: _as_list(spec.options.get(key)) for key in NAMES}
    fixed = {k: v for k, v in spec.options.items() if k not in NAMES}
    axes = {k: v for k, v in fixed.items() if isinstance(v, list) and k != "languages"}
    fixed_settings = {k: v for k, v in spec.settings.items() if not isinstance(v, Sweep)}
    axes.update({k: list(v.values) for k, v in spec.settings.items() if isinstance(v, Sweep)})
    combos = _combinations(axes, spec.sweep)
    cells: list[Cell] = []
    for model, task, dataset, strategy in itertools.product(
        names["model"], names["task"], names["dataset"], names["strategy"]
    ):
        for combo in combos:
            values = {**fixed, "model": model, "task": task, "dataset": dataset}
            values["strategy"] = strategy
            values.update({k: v for k, v in combo.items() if "." not in k})
            settings = {**fixed_settings, **{k: v for k, v in combo.items() if "." in k}}
            request = _request(values, settings, spec.flag_settings)
            cells.append(Cell(len(cells) + 1, request, dict(combo)))
    return cells


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def check_names(cells: Sequence[Cell], loaded: Loaded) -> None:
    """An unknown model, strategy, task or dataset ends the command before anything runs."""
    registries = {"model": loaded.encoders, "strategy": loaded.strategies, "task": loaded.tasks}
    registries["dataset"] = loaded.datasets
    for key, registry in registries.items():
        for name in dict.fromkeys(getattr(c.request, key) for c in cells):
            if name is not None:
                registry.get(name)


def resolve(
    cells: Sequence[Cell],
    sharing: Sharing,
    *,
    experiment: str = "",
    loaded: Loaded | None = None,
) -> None:
    """Plan, prepare, merge equal cells and label the rest (in place)."""
    loaded = loaded or plugins()
    check_names(cells, loaded)
    if len(cells) > 1:
        _fit_settings(cells, loaded)
    for cell in cells:
        try:
            resolved = plan(cell.request, loaded)
        except HarnessError as exc:
            cell.skipped = str(exc)
            continue
        cell.prepared = prepare(cell.request, sharing, resolved)
    first: dict[tuple[str, str, str], Cell] = {}
    for cell in cells:
        if cell.prepared is None:
            continue
        key = (cell.request.model, cell.request.strategy, config_hash(cell.prepared.config))
        if key in first:
            cell.same_as = first[key].number
        else:
            first[key] = cell
    _label(cells, sharing, experiment)


def _fit_settings(cells: Sequence[Cell], loaded: Loaded) -> None:
    """In a matrix, a setting goes to the cells whose plugin declares it (``lora.r`` is not
    given to ``none``); one that no cell's plugin of its section declares is refused."""
    from harness.options import options_of

    registry_of = {"encoder": loaded.encoders, "strategy": loaded.strategies}
    registry_of["dataset"] = loaded.datasets
    declared: dict[tuple[str, str], set[str] | None] = {}
    for cell in cells:
        r = cell.request
        for section, name in (("encoder", r.model), ("strategy", r.strategy)):
            meta = registry_of[section].get(name).entry.meta
            found = {o.name for o in options_of(meta["options"])} if "options" in meta else None
            declared[(section, name)] = found
    for section in ("encoder", "strategy"):
        wanted = {k for c in cells for k in c.request.settings.get(section, {})}
        for key in sorted(wanted):
            if not any((d is None or key in d) for (s, _), d in declared.items() if s == section):
                raise HarnessError(f"--set {section}.{key}: no {section} of this matrix has it")
    for cell in cells:
        r = cell.request
        settings = dict(r.settings)
        for section, name in (("encoder", r.model), ("strategy", r.strategy)):
            known = declared[(section, name)]
            if known is not None and section in settings:
                settings[section] = {k: v for k, v in settings[section].items() if k in known}
        cell.request = replace(r, settings=settings)


def _label(cells: Sequence[Cell], sharing: Sharing, experiment: str) -> None:
    """Each runnable cell shows the settings that tell it from its siblings (``r=8``); its
    folder is labelled by everything that differs from a plain run (harness.identity)."""
    groups: dict[tuple[str, ...], list[Cell]] = {}
    for cell in cells:
        if cell.runnable and cell.prepared is not None:
            r = cell.request
            key = (r.model, r.strategy, r.task, cell.prepared.resolved.dataset_name)
            groups.setdefault(key, []).append(cell)
    for group in groups.values():
        keys = dict.fromkeys(k for cell in group for k in cell.axes)
        varying = [k for k in keys if len({show(c.axes.get(k)) for c in group}) > 1]
        shorts = [k.partition(".")[2] or k for k in varying]
        names = shorts if len(set(shorts)) == len(shorts) else varying
        for cell in group:
            assert cell.prepared is not None
            pairs = zip(names, varying, strict=True)
            label = ",".join(f"{name}={show(cell.axes[key])}" for name, key in pairs)
            record: dict[str, Any] = {"experiment": experiment} if experiment else {}
            # an empty label too: the cell shows what tells it from its siblings, nothing else
            record["variant"] = {"label": label, "settings": {k: cell.axes[k] for k in varying}}
            cell.request = replace(cell.request, label=label, record=record)
            cell.prepared = prepare(cell.request, sharing, cell.prepared.resolved)


def in_order(cells: Sequence[Cell], key_of: Any) -> list[Cell]:
    """The runnable cells, grouped by base model (first appearance first), else as expanded."""
    runnable = [c for c in cells if c.runnable]
    first: dict[str, int] = {}
    for index, cell in enumerate(runnable):
        first.setdefault(key_of(cell), index)
    return sorted(runnable, key=lambda c: first[key_of(c)])


@dataclass
class CellWork:
    """What a cell has left to do, counting what earlier cells of the matrix do for it."""

    partitions: int
    stored: int  # partitions complete in the result store
    texts: int = 0  # texts to encode (a retrieval task's queries and candidates)
    examples: int = 0  # examples to score (other task kinds: completions to generate)
    steps: int = 0  # training steps this cell runs
    adapters: list[PlannedAdapter] = field(default_factory=list)

    @property
    def cost(self) -> int:
        return self.texts + self.examples + STEP_COST * self.steps

    @property
    def complete(self) -> bool:
        return self.stored == self.partitions


def estimate(order: Sequence[Cell], key_of: Any) -> dict[int, CellWork]:
    """The work each cell leaves, in running order: an adapter is trained by the first cell
    that needs it, and a text is encoded once across the cells that share embeddings."""
    trained: set[str] = set()
    seen: dict[str, set[bytes]] = {}
    works = {}
    for cell in order:
        from harness.sharing import text_key

        prepared = cell.prepared
        assert prepared is not None
        pending = [n for n, path, cfg in prepared.partitions if prepared.stored(path, cfg) is None]
        work = CellWork(len(prepared.partitions), len(prepared.partitions) - len(pending))
        works[cell.number] = work
        if not pending:
            continue
        work.adapters = prepared.strategy.planned_adapters(prepared.dataset)
        for adapter in work.adapters:
            if not adapter.cached and adapter.key not in trained:
                work.steps += max(0, adapter.steps - adapter.steps_done)
                trained.add(adapter.key)
        shared = not getattr(prepared.strategy, "changes_encoder", True)
        memo = seen.setdefault(key_of(cell), set()) if shared else set()
        for name in pending:
            split = prepared.dataset.partitions[name].eval
            queries, corpus = getattr(split, "queries", None), getattr(split, "corpus", None)
            if not isinstance(queries, dict) or not isinstance(corpus, dict):
                work.examples += len(split) if hasattr(split, "__len__") else 0
                continue
            if not shared:
                work.texts += len(queries) + len(corpus)
                continue
            for role, texts in (("query", queries.values()), ("code", corpus.values())):
                for text in texts:
                    key = text_key(role, text)
                    if key not in memo:
                        memo.add(key)
                        work.texts += 1
    return works
