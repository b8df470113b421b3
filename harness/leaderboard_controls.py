"""The controls of a leaderboard.

A result whose strategy scored controls on the same examples (any
strategy may: ``config.encoder_info.controls``, read as harness.controls.Controls)
gets one row per control beneath its own row, e.g. ``STRATEGY: shuffled``. A
control row takes no part in bold or marks; each of its cells carries the
system's gain over the control (system - control) and the paired sign-flip p of
that gain, on the same examples, Holm-corrected over the control cells of the
column as the marks are. A ``diversity`` record (the adapters' mean pairwise
cosine and the collapse flag) becomes a note under the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.compare import ExampleScores, Run, align
from harness.controls import Controls
from harness.leaderboard_rows import MEAN, Cell, Row, limit_of
from harness.significance import sign_flip_test
from harness.stats import bootstrap_ci


def control_rows(
    runs: Sequence[Run], metric: str, rows: dict[tuple[str, str], Row], labels: dict[Path, str]
) -> tuple[list[Row], list[str]]:
    """A row per control scored with the runs (their per-example scores aligned to the
    system's), and the diversity notes."""
    controls: dict[tuple[str, str, str], Row] = {}
    notes: dict[tuple[str, str], str] = {}
    for run in runs:
        recorded = Controls.from_info(run.result.config.get("encoder_info"))
        if recorded is None or (recorded.metric or metric) != metric:
            continue
        label = labels[run.path]
        system = rows[(run.result.model, label)]
        mine = system.scores[run.result.partition]
        for name, scores in recorded.scores.items():
            theirs = ExampleScores(
                recorded.ids,
                {metric: np.asarray(scores, dtype=float)},
                f"{run.path}: control {name}",
            )
            aligned = align(mine, theirs, f"{run.path}: control {name}")
            key = (run.result.model, label, name)
            row = controls.setdefault(
                key, Row(run.result.model, f"{label}: {name}", {}, control_of=label)
            )
            values = aligned.columns[metric]
            resamples = int(run.result.config.get("n_resamples", 1000))
            low, high = bootstrap_ci(values, n_resamples=resamples)  # as a result's own cells
            half, limit = (high - low) / 2, limit_of(run.result)
            row.cells[run.result.partition] = Cell(
                float(values.mean()), half, limit=limit, interval=(low, high)
            )
            row.scores[run.result.partition] = aligned
        diversity = recorded.diversity
        if diversity is not None and diversity.cosine is not None:
            flag = "collapsed" if diversity.collapsed else "not collapsed"
            of = "updates'" if diversity.of_updates else "factors'"
            notes[(run.result.model, label)] = (
                f"{run.result.model} {label}: the {diversity.n_adapters} adapters' "
                f"mean pairwise cosine {diversity.cosine:.3f} ({of}; {flag}: the flag is at "
                f"{diversity.collapse_cosine})"
            )
        elif diversity is not None:
            notes[(run.result.model, label)] = (
                f"{run.result.model} {label}: collapse unknown (one evaluated repository)"
            )
    return list(controls.values()), [notes[k] for k in sorted(notes)]


def add_gains(
    system: Row, control: Row, columns: Sequence[str], partitions: Sequence[str], metric: str,
    n_permutations: int, seed: int,
) -> None:  # fmt: skip
    """Each control cell's gain (system - control) and its paired sign-flip p."""
    for column in columns:
        cell = control.cells.get(column)
        if cell is None or column not in system.cells:
            continue
        strata = list(partitions) if column == MEAN else [column]
        if any(p not in control.scores for p in strata):
            continue
        cell.gain = system.cells[column].value - cell.value
        cell.gain_p = sign_flip_test(
            [control.scores[p].columns[metric] for p in strata],
            [system.scores[p].columns[metric] for p in strata],
            n_resamples=n_permutations,
            seed=seed,
        )
