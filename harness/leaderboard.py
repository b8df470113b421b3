"""Leaderboards from a result store: rows model x strategy, columns partitions and their mean.

Every measured cell is a mean with half its bootstrap 95% interval. The best
cell of a column is bold; every other measured cell of the column is tested
against it with the paired sign-flip test on the same examples (the mean
column by a test of the macro average, partitions as strata), Holm-corrected
within the column; a cell whose corrected p is at least alpha is marked as
not significantly different from the best. Published ("reported") rows, read
from a TOML file or from MTEB result files (harness.mteb_read), are shown
beside the measured ones and take no part in bold or marks. Everything printed
comes from the results (dates included), so one store always renders the same
bytes.

Controls (a row per control beneath its system, with the gain and its p):
harness.leaderboard_controls.

Datasets: results of a split other than the task's own are stored as
``<dataset>@<split>`` and selected by that name (``--dataset local@test``), so
two protocols never share a table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from harness.compare import Run, load_runs, pooled, read_scores
from harness.errors import HarnessError, InputError
from harness.identity import distinguishing
from harness.leaderboard_commands import run_commands
from harness.leaderboard_controls import add_gains, control_rows
from harness.leaderboard_replicates import column_p, merge_replicates
from harness.leaderboard_rows import MEAN, Cell, Row, limit_of
from harness.significance import holm, paired_bootstrap_ci
from harness.stats import UNKNOWN, bootstrap_ci

REPORTED_FILE = Path(__file__).resolve().parent.parent / "leaderboards" / "reported.toml"


@dataclass
class Leaderboard:
    task: str
    dataset: str
    metric: str
    columns: list[str]
    rows: list[Row]
    header: dict[str, str]
    alpha: float
    higher_is_better: bool = True
    run_commands: list[str] = field(default_factory=list)
    """`harness run` commands that remake the measured rows, read back from their configs."""
    notes: list[str] = field(default_factory=list)
    """Lines printed under the table (the adapters' diversity of a system with controls)."""


def build(
    root: Path,
    task: str,
    *,
    dataset: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    n_permutations: int = 10_000,
    seed: int = 0,
    reported: Path | Sequence[Path] | None = None,
    runs: Sequence[Run] | None = None,
    by: str | None = None,
) -> Leaderboard:
    """Read the store (or only `runs` of it), fill the cells, mark best and
    not-significantly-worse cells. With `by`, the columns are the values of that
    per-example field (``answer_source``: file, repo, none), each over every partition's
    examples with that value; controls and reported rows are then left out."""
    runs = _select(load_runs(root) if runs is None else list(runs), root, task, dataset)
    dataset = stored_dataset(runs[0])
    metric = metric or _main_score(runs)
    higher = _higher_is_better(metric)
    rows: dict[tuple[str, str], Row] = {}
    labels = strategy_labels(runs)
    for run in runs:
        result = run.result
        if metric not in result.metrics:
            raise InputError(
                f"has no metric {metric!r} (it has: {', '.join(sorted(result.metrics))})",
                path=run.path,
            )
        strategy = labels[run.path]
        row = rows.setdefault((result.model, strategy), Row(result.model, strategy, {}))
        stored = result.metrics[metric]
        half = (stored.ci_high - stored.ci_low) / 2
        row.cells[result.partition] = Cell(
            stored.value, half, limit=limit_of(result), interval=(stored.ci_low, stored.ci_high)
        )
        row.scores[result.partition] = read_scores(run, [metric], [by] if by else [])
    if by is not None:
        for row in rows.values():
            _regroup(row, by, metric, runs[0].result.config.get("n_resamples", 1000), seed)
    partitions = sorted({p for row in rows.values() for p in row.cells})
    # the classes of a field are no sample of anything: no mean over them
    columns = [*partitions, MEAN] if len(partitions) > 1 and by is None else partitions
    if len(columns) > len(partitions):
        for row in rows.values():
            _add_mean(row, partitions, metric, runs[0].result.config.get("n_resamples", 1000))
    measured = sorted(  # one row for a system's seeds (harness.leaderboard_replicates)
        merge_replicates(rows, runs, labels),
        key=lambda r: (r.model, r.strategy.split(" ")[0] != "none", _natural(r.strategy)),
    )
    for column in columns:
        _mark_column(measured, column, partitions, metric, higher, alpha, n_permutations, seed)
    controls, notes = control_rows(runs, metric, rows, labels) if by is None else ([], [])
    for control in controls:
        system = rows[(control.model, control.control_of)]
        if len(partitions) > 1:
            _add_mean(control, partitions, metric, runs[0].result.config.get("n_resamples", 1000))
        add_gains(system, control, columns, partitions, metric, n_permutations, seed)
    for column in columns:  # the controls' tests of a column are one family, as the marks'
        cells = [c.cells[column] for c in controls if column in c.cells]
        tested = [(cell, cell.gain_p) for cell in cells if cell.gain_p is not None]
        for (cell, _), adjusted in zip(tested, holm([p for _, p in tested]), strict=True):
            cell.gain_p_holm = adjusted
    ordered = []
    for row in measured:
        ordered += [
            row,
            *(c for c in controls if (c.model, c.control_of) == (row.model, row.strategy)),
        ]
    extra = _reported(reported, task, metric, runs) if by is None else []
    for row in extra:
        columns += [p for p in row.cells if p not in columns]
    commands = run_commands(runs, root)
    return Leaderboard(task, dataset, metric, columns, ordered + extra, _header(runs), alpha,
                       higher, commands, notes)  # fmt: skip


def _regroup(row: Row, by: str, metric: str, n_resamples: int, seed: int) -> None:
    """`row`'s cells by the values of field `by` instead of by partition: each over the
    examples of every partition with that value (ids kept apart by partition)."""
    if all(set(s.labels[by]) == {UNKNOWN} for s in row.scores.values()):
        raise InputError(f"{row.model} / {row.strategy}: no example says its {by!r}")
    limits = {cell.limit for cell in row.cells.values()}
    everything = pooled(sorted(row.scores.items()))
    everything.labels[by] = [v for _, s in sorted(row.scores.items()) for v in s.labels[by]]
    row.cells, row.scores = {}, {}
    for value, scores in everything.split_by(by).items():
        column = scores.columns[metric]
        low, high = bootstrap_ci(column, n_resamples=int(n_resamples), seed=seed)
        limit = next(iter(limits)) if len(limits) == 1 else None
        row.cells[value] = Cell(
            float(column.mean()), (high - low) / 2, limit=limit, interval=(low, high)
        )
        row.scores[value] = scores


def stored_dataset(run: Run) -> str:
    """The dataset name a run is stored (and selected) under: ``local@test`` for a split
    other than the task's own (recorded as ``config.stored_dataset``), else the dataset."""
    return str(run.result.config.get("stored_dataset") or run.result.dataset)


def strategy_labels(runs: Sequence[Run]) -> dict[Path, str]:
    """Each run's strategy with what tells it from the other runs of that strategy shown
    together (``taskwise r=8``); what all of them have alike is left to the header and the
    regenerate commands."""
    by_strategy: dict[str, list[Run]] = {}
    for run in runs:
        by_strategy.setdefault(str(run.result.strategy), []).append(run)
    labels: dict[Path, str] = {}
    for name, group in by_strategy.items():
        shown = distinguishing([_shown_identity(run.result) for run in group])
        for run, label in zip(group, shown, strict=True):
            labels[run.path] = f"{name} {label}" if label else name
    return labels


def _shown_identity(result: Any) -> dict[str, Any]:
    config = result.config
    if isinstance(config.get("identity"), dict):
        return config["identity"]
    label = (config.get("variant") or {}).get("label")  # a result older than the identity
    return {label: True} if label else {}


def _natural(text: str) -> list[Any]:
    """Numbers in `text` compare as numbers: ``r=8`` before ``r=16``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _select(runs: list[Run], root: Path, task: str, dataset: str | None) -> list[Run]:
    for_task = [r for r in runs if r.result.task == task]
    if not for_task:
        tasks = sorted({r.result.task for r in runs})
        raise HarnessError(
            f"{root}: no results for task {task!r} (tasks there: {', '.join(tasks)})"
        )
    datasets = sorted({stored_dataset(r) for r in for_task})
    if dataset is None and len(datasets) > 1:
        raise HarnessError(
            f"{root}: task {task!r} has results on several datasets ({', '.join(datasets)}); "
            "choose one with --dataset"
        )
    chosen = [r for r in for_task if dataset is None or stored_dataset(r) == dataset]
    if not chosen:
        raise HarnessError(
            f"{root}: no results for task {task!r} on dataset {dataset!r} "
            f"(datasets there: {', '.join(datasets)})"
        )
    return sorted(chosen, key=lambda r: str(r.path))


def _main_score(runs: Sequence[Run]) -> str:
    scores = sorted({r.result.main_score for r in runs})
    if len(scores) > 1:
        raise HarnessError(
            f"results disagree on the main score ({', '.join(scores)}); use --metric"
        )
    return scores[0]


def _higher_is_better(metric: str) -> bool:
    from harness.plugin_manager import plugins

    registry = plugins().registries.get("metrics")
    if registry is not None and metric in registry:
        return bool(registry.get(metric).entry.meta.get("higher_is_better", True))
    return True


def _add_mean(row: Row, partitions: Sequence[str], metric: str, n_resamples: int) -> None:
    """The macro average over partitions, with a stratified bootstrap interval."""
    if any(p not in row.cells for p in partitions):
        return
    strata = [row.scores[p].columns[metric] for p in partitions]
    zeros = [np.zeros_like(s) for s in strata]
    low, high = paired_bootstrap_ci(zeros, strata, n_resamples=int(n_resamples))
    value = float(np.mean([row.cells[p].value for p in partitions]))
    limits = [limit for p in partitions if (limit := row.cells[p].limit) is not None]
    row.cells[MEAN] = Cell(
        value, (high - low) / 2, limit=max(limits) if limits else None, interval=(low, high)
    )


def _mark_column(
    rows: Sequence[Row],
    column: str,
    partitions: Sequence[str],
    metric: str,
    higher: bool,
    alpha: float,
    n_permutations: int,
    seed: int,
) -> None:
    """Bold the best cells of a column; test the others against the first best one."""
    present = [r for r in rows if column in r.cells]
    if any(r.cells[column].limit is None for r in present):
        # a limited cell is over fewer examples: beside full runs it is neither bold nor
        # marked, only labelled (§N)
        present = [r for r in present if r.cells[column].limit is None]
    if not present:
        return
    sign = 1.0 if higher else -1.0
    top = max(sign * r.cells[column].value for r in present)
    best = [r for r in present if sign * r.cells[column].value == top]
    for row in best:
        row.cells[column].best = True
    reference = best[0]
    strata = list(partitions) if column == MEAN else [column]
    tested: list[tuple[Cell, float]] = []
    for row in present:
        cell = row.cells[column]
        if cell.best:
            continue
        try:  # seed by seed; over seeds and examples when they share two or more
            p_value = column_p(reference, row, strata, metric, n_permutations, seed)
        except InputError:
            cell.untested = True  # not over the same examples: no paired test
            continue
        tested.append((cell, p_value))
    for (cell, _), adjusted in zip(tested, holm([p for _, p in tested]), strict=True):
        cell.p_holm = adjusted
        cell.same_as_best = adjusted >= alpha


def header_lines(header: dict[str, str]) -> list[str]:
    """The header as printed above a table: dataset, split and limit, versions and date."""
    h = header
    limit = "" if h["limit"] == "-" else f"; limit {h['limit']} per partition (not comparable)"
    return [
        f"dataset: {h['dataset']}, revision {h['revision']}; protocol: {h['protocol']}",
        f"split: {h['split']}{limit}; examples: {h['examples']}",
        f"harness {h['harness']} (commit {h['commit']}); results of {h['date']}",
    ]


def _header(runs: Sequence[Run]) -> dict[str, str]:
    """Dataset, protocol, revision, versions and date, all read from the results."""

    def values(get: Any) -> str:
        found = sorted({str(v) for v in (get(r) for r in runs) if v not in (None, "")})
        return ", ".join(found) or "-"

    def data(key: str) -> Any:
        return lambda r: (r.result.config.get("dataset") or {}).get(key)

    first = runs[0].result
    return {
        "dataset": first.dataset,
        "protocol": values(lambda r: data("protocol")(r) or data("format")(r)),
        "revision": values(lambda r: data("revision")(r) or data("cache_key")(r)),
        "split": values(lambda r: r.result.config.get("split")),
        "limit": values(lambda r: r.result.config.get("limit")),
        "harness": values(lambda r: r.result.versions.get("harness")),
        "date": max(r.result.created for r in runs)[:10] or "-",
        "commit": values(lambda r: r.result.git_sha[:10]),
        "examples": ", ".join(
            f"{p} {n}" for p, n in sorted({(r.result.partition, r.result.n_examples) for r in runs})
        ),
    }


def _reported(
    reported: Path | Sequence[Path] | None, task: str, metric: str, runs: Sequence[Run]
) -> list[Row]:
    """The reported rows of every ``--reported`` source: a TOML file of ``[[reported]]``
    tables (`read_reported`), an MTEB task file (``.json``) or a folder of them (an MTEB
    results repository or cache; harness.mteb_read), whose subsets go in the columns of the
    board's measured runs that read them."""
    if not reported:
        return []
    from harness.mteb_read import partition_columns, read_mteb_rows

    columns = partition_columns(runs)
    rows: list[Row] = []
    for path in [reported] if isinstance(reported, Path) else reported:
        if path.suffix == ".toml":
            rows += read_reported(path, task, metric)
        else:
            rows += read_mteb_rows(path, task, metric, columns)
    return rows


def read_reported(path: Path, task: str, metric: str) -> list[Row]:
    """Published rows for `task` and `metric` from a TOML file of ``[[reported]]`` tables."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read reported numbers: {exc.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=path) from None
    rows = []
    for number, entry in enumerate(raw.get("reported", []), 1):
        missing = [
            k for k in ("paper", "task", "dataset", "metric", "model", "values") if k not in entry
        ]
        if missing:
            raise InputError(f"[[reported]] number {number} has no {missing[0]!r}", path=path)
        if entry["task"] != task or entry["metric"] != metric:
            continue
        values = {str(k): float(v) / 100 for k, v in entry["values"].items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise InputError(
                f"[[reported]] number {number} has a value that is not finite", path=path
            )
        rows.append(
            Row(
                entry["model"],
                entry.get("strategy", "-"),
                {k: Cell(v, published=repr(float(entry["values"][k]))) for k, v in values.items()},
                source=f"{entry['paper']} ({entry.get('citation', 'no citation')})",
                dataset=entry["dataset"],
            )
        )
    return rows
