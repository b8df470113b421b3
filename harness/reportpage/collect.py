"""What the report shows of one task and dataset, read from a result store through the
leaderboard's and compare's own code (never a second computation of a statistic):

- the leaderboard (harness.leaderboard.build: cells, bold, marks, controls, seeds);
- paired differences against a baseline strategy, one family Holm-corrected (the leaderboard
  rows' per-example scores through harness.compare and harness.significance);
- the cost view of completion results (harness.leaderboard_cost.build_costs);
- a leaderboard per breakdown field the results carry (``build(by=FIELD)``);
- read generically from each result's ``config.encoder_info``: the evolution track
  (``evolution.steps``: the commits applied for each example, in example order, with the
  ``first_snapshot`` control when recorded), the adapters' cosine matrices (a controls
  record's ``diversity.update_cosines`` with ``names``) and training curves (any record in
  the info holding ``loss_curve``: ``[[step, loss], ...]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare import Run, align, load_runs, read_scores, test_over_seeds
from harness.controls import Controls
from harness.errors import HarnessError
from harness.leaderboard import MEAN, Leaderboard, build, stored_dataset, strategy_labels
from harness.leaderboard_commands import run_commands
from harness.leaderboard_cost import CostView, build_costs, cost_columns
from harness.leaderboard_rows import Row
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test


@dataclass
class Difference:
    """One strategy's paired difference from the baseline in one column (B - A, in [-1, 1])."""

    model: str
    strategy: str
    column: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_seeds: int
    p_holm: float = float("nan")


@dataclass
class Track:
    """An evolution track: per commits applied, the examples' mean with the adapter after
    those commits (and with the first snapshot's, where recorded)."""

    model: str
    strategy: str
    partition: str
    steps: list[int]
    n: list[int]
    score: list[float]
    first_snapshot: list[float] | None


@dataclass
class Heatmap:
    model: str
    strategy: str
    names: list[str]
    matrix: list[list[float]]
    mean: float | None


@dataclass
class Curve:
    model: str
    strategy: str
    what: str  # where in the info it was found, and the adapter it trained
    points: list[tuple[float, float]]


@dataclass
class RunGroup:
    """One row's runs: the command that remakes them and their (shared) config."""

    model: str
    strategy: str
    partitions: list[str]
    commands: list[str]
    config: dict[str, Any]


@dataclass
class TaskReport:
    board: Leaderboard
    baseline: str
    differences: list[Difference] = field(default_factory=list)
    costs: CostView | None = None
    per_request: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """(model, strategy) -> prompt tokens and seconds per request: the leaderboard's cost
    columns (completion results)."""
    by_field: dict[str, Leaderboard] = field(default_factory=dict)
    tracks: list[Track] = field(default_factory=list)
    heatmaps: list[Heatmap] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    groups: list[RunGroup] = field(default_factory=list)

    @property
    def partitions(self) -> list[str]:
        return [c for c in self.board.columns if c != MEAN]

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.board.rows if not r.reported and not r.control_of]


def task_datasets(runs: Sequence[Run], task: str | None) -> list[tuple[str, str]]:
    """Every (task, stored dataset) of `runs`, or of `task` alone."""
    found = sorted({(r.result.task, stored_dataset(r)) for r in runs})
    if task is not None:
        found = [f for f in found if f[0] == task]
        if not found:
            tasks = ", ".join(sorted({r.result.task for r in runs}))
            raise HarnessError(f"no results for task {task!r} (tasks there: {tasks})")
    return found


def collect(
    root: Path,
    runs: Sequence[Run],
    task: str,
    dataset: str,
    *,
    baseline: str = "none",
    alpha: float = 0.05,
    n_permutations: int = 10_000,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> TaskReport:
    """Everything the page (and `harness plot`) shows of `task` on `dataset`."""
    chosen = [r for r in runs if r.result.task == task and stored_dataset(r) == dataset]
    board_of = partial(build, root, task, dataset=dataset, alpha=alpha,
                       n_permutations=n_permutations, seed=seed, runs=chosen)  # fmt: skip
    board = board_of()
    report = TaskReport(board, baseline)
    report.differences = differences(board, baseline, n_permutations, seed, n_bootstrap)
    if _all_timed(chosen):
        report.per_request = cost_columns(root, task, dataset)
        report.costs = build_costs(root, task, dataset=dataset, seed=seed)
    for name in sorted({n for r in chosen for n in r.result.breakdowns}):
        report.by_field[name] = board_of(by=name)
    labels = strategy_labels(chosen)
    report.tracks = [t for r in chosen if (t := _track(r, labels[r.path])) is not None]
    report.heatmaps = _heatmaps(chosen, labels)
    report.curves = _curves(chosen, labels)
    report.groups = _groups(root, chosen, labels)
    return report


def _all_timed(runs: Sequence[Run]) -> bool:
    wanted = ("prompt_tokens_total", "generate_s")
    return all(isinstance(r.result.timings.get(n), int | float) for r in runs for n in wanted)


def differences(
    board: Leaderboard, baseline: str, n_permutations: int, seed: int, n_bootstrap: int = 1000
) -> list[Difference]:
    """Each measured row against its model's `baseline` row (its label, else the one row of
    that strategy), per column; over seeds and examples where both have two or more seeds
    in common (harness.compare.test_over_seeds), else the paired bootstrap interval and
    sign-flip test of the lowest common seed. All of them one Holm family."""
    rows = [r for r in board.rows if not r.reported and not r.control_of]
    partitions = [c for c in board.columns if c != MEAN]
    found: list[Difference] = []
    for model in sorted({r.model for r in rows}):
        mine = [r for r in rows if r.model == model]
        base = _baseline_row(mine, baseline)
        if base is None:
            continue
        for row in (r for r in mine if r is not base):
            for column in board.columns:
                strata = partitions if column == MEAN else [column]
                found += _difference(
                    base, row, column, strata, board.metric, (n_permutations, n_bootstrap, seed)
                )
    for item, adjusted in zip(found, holm([d.p_value for d in found]), strict=True):
        item.p_holm = adjusted
    return found


def _baseline_row(rows: Sequence[Row], name: str) -> Row | None:
    exact = [r for r in rows if r.strategy == name]
    plain = [r for r in rows if r.strategy.split(" ")[0] == name]
    return exact[0] if exact else plain[0] if len(plain) == 1 else None


def _difference(
    base: Row,
    row: Row,
    column: str,
    strata: Sequence[str],
    metric: str,
    resamples: tuple[int, int, int],
) -> list[Difference]:
    """`row` - `base` in `column`; `resamples`: (permutations, bootstrap resamples, seed)."""
    n_permutations, n_bootstrap, seed = resamples
    common = sorted(set(base.replicates) & set(row.replicates))
    usable = [
        s
        for s in common
        if all(p in base.replicates[s].scores and p in row.replicates[s].scores for p in strata)
    ]
    if not usable or column not in base.cells or column not in row.cells:
        return []
    a = [[base.replicates[s].scores[p] for p in strata] for s in usable]
    b = [[row.replicates[s].scores[p] for p in strata] for s in usable]
    try:
        if len(usable) > 1:
            test = test_over_seeds(a, b, metric, strata)
            return [
                Difference(
                    row.model,
                    row.strategy,
                    column,
                    test.difference,
                    test.ci_low,
                    test.ci_high,
                    test.p_value,
                    len(usable),
                )
            ]
        aligned = [align(x, y, p) for x, y, p in zip(a[0], b[0], strata, strict=True)]
    except HarnessError:  # not over the same examples: no paired difference
        return []
    xs = [x.columns[metric] for x in a[0]]
    ys = [y.columns[metric] for y in aligned]
    low, high = paired_bootstrap_ci(xs, ys, n_resamples=n_bootstrap, seed=seed)
    p_value = sign_flip_test(xs, ys, n_resamples=n_permutations, seed=seed)
    value = float(np.mean([y.mean() - x.mean() for x, y in zip(xs, ys, strict=True)]))
    return [Difference(row.model, row.strategy, column, value, low, high, p_value, 1)]


def _info(run: Run) -> Mapping[str, Any]:
    return run.result.config.get("encoder_info") or {}


def _track(run: Run, label: str) -> Track | None:
    steps = (_info(run).get("evolution") or {}).get("steps")
    if not isinstance(steps, list):
        return None
    controls = Controls.from_info(_info(run))
    metric = (controls.metric if controls else None) or run.result.main_score
    scores = read_scores(run, [metric])
    if len(steps) != len(scores.ids):
        return None
    values = scores.columns[metric]
    first = None
    if controls is not None and "first_snapshot" in controls.scores:
        by_id = dict(zip(controls.ids, controls.scores["first_snapshot"], strict=True))
        first = np.array([by_id.get(i, np.nan) for i in scores.ids], dtype=float)
    ordered = sorted(set(steps))
    chosen = [np.array([k == step for k in steps]) for step in ordered]
    return Track(
        run.result.model,
        label,
        run.result.partition,
        ordered,
        [int(c.sum()) for c in chosen],
        [float(values[c].mean()) for c in chosen],
        None if first is None else [float(np.nanmean(first[c])) for c in chosen],
    )


def _heatmaps(runs: Sequence[Run], labels: Mapping[Path, str]) -> list[Heatmap]:
    found: dict[tuple[str, str], Heatmap] = {}
    for run in runs:
        record = (_info(run).get("controls") or {}).get("diversity") or {}
        matrix = record.get("update_cosines") if isinstance(record, Mapping) else None
        if not isinstance(matrix, list) or len(matrix) < 2:
            continue
        names = [str(n) for n in record.get("names") or []]
        mean = record.get("mean_update_cosine")
        found.setdefault(
            (run.result.model, labels[run.path]),
            Heatmap(
                run.result.model,
                labels[run.path],
                names,
                matrix,
                None if mean is None else float(mean),
            ),
        )
    return list(found.values())


def training_records(info: Any, where: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every record in `info` (nested) that holds a ``loss_curve``, with its key path."""
    if isinstance(info, Mapping):
        if isinstance(info.get("loss_curve"), list):
            yield where or "training", info
        for key, value in info.items():
            if isinstance(value, Mapping):
                yield from training_records(value, f"{where}.{key}" if where else str(key))


def _curves(runs: Sequence[Run], labels: Mapping[Path, str]) -> list[Curve]:
    found: dict[tuple[str, str, str], Curve] = {}
    for run in runs:
        info = _info(run)
        for where, record in training_records(info):
            points = [
                (float(p[0]), float(p[1]))
                for p in record["loss_curve"]
                if isinstance(p, list) and len(p) == 2
            ]
            if not points:
                continue
            adapter = str(info.get("adapter") or "")
            what = f"{where} {adapter}".strip() if where == "adapter_training" else where
            key = (run.result.model, labels[run.path], what)
            found.setdefault(key, Curve(*key, points))
    return list(found.values())


def _groups(root: Path, runs: Sequence[Run], labels: Mapping[Path, str]) -> list[RunGroup]:
    by_row: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        by_row.setdefault((run.result.model, labels[run.path]), []).append(run)
    return [
        RunGroup(
            model,
            label,
            sorted(r.result.partition for r in group),
            run_commands(group, root),
            shown_config(group[0].result.config),
        )
        for (model, label), group in sorted(by_row.items())
    ]


def shown_config(config: Mapping[str, Any], longest: int = 12) -> dict[str, Any]:
    """`config` with every list longer than `longest` shown as its length (per-example
    control scores, source roots) and the nested records kept."""

    def short(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: short(v) for k, v in value.items()}
        if isinstance(value, list) and len(value) > longest:
            return f"[{len(value)} items]"
        if isinstance(value, list):
            return [short(v) for v in value]
        return value

    return dict(short(config))


def build_reports(
    root: Path, *, task: str | None = None, dataset: str | None = None, **options: Any
) -> list[TaskReport]:
    """One report per task and dataset of the store (or of `task`, `dataset`); `options`
    as `collect` takes them (baseline, alpha, n_permutations, n_bootstrap, seed)."""
    runs = load_runs(root)
    found = task_datasets(runs, task)
    if dataset is not None:
        found = [f for f in found if f[1] == dataset]
        if not found:
            raise HarnessError(f"{root}: no results on dataset {dataset!r}")
    return [collect(root, runs, t, d, **options) for t, d in found]
