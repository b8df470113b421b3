"""A leaderboard's replicate rows: one row for a system's runs over several seeds.

Runs that share ``config["replicate_of"]`` (they differ only in the seed) become one row
``STRATEGY seeds=0,1,2``: each cell the mean over seeds, ± the mean of the seeds' half
bootstrap intervals, with the standard deviation over seeds beside it. A column's test
of such a row against the best one pairs them seed by seed and uses the t test over
seeds and examples (`harness.replicates`); with one seed in common it is the paired
sign-flip test of that seed, as between single runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.compare import align, test_over_seeds
from harness.errors import InputError
from harness.leaderboard_rows import Cell, Row
from harness.replicates import replicate_of, seed_spread, without_seed
from harness.significance import sign_flip_test


def merge_replicates(
    rows: Mapping[tuple[str, str], Any], runs: Sequence[Any], labels: Mapping[Any, str]
) -> list[Any]:
    """The measured rows, those of one system's seeds merged; every row learns its seeds.
    `labels`: each run's row label, by its path."""
    seed_of: dict[tuple[str, str], int] = {}
    group_of: dict[tuple[str, str], tuple[str, str]] = {}
    for run in runs:
        key = (run.result.model, labels[run.path])
        seed_of[key] = int(run.result.seed)
        group_of[key] = (run.result.model, replicate_of(run.result))
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, row in rows.items():
        row.replicates = {seed_of[key]: row}
        groups.setdefault(group_of[key], []).append(key)
    merged = []
    for keys in groups.values():
        members = {seed_of[k]: rows[k] for k in keys}
        if len(members) < 2 or len(members) != len(keys):
            merged += [rows[k] for k in keys]
            continue
        seeds = sorted(members)
        first = members[seeds[0]]
        label = f"{without_seed(first.strategy)} seeds={','.join(map(str, seeds))}"
        row = Row(first.model, label, {}, replicates={s: members[s] for s in seeds})
        columns = set.intersection(*(set(m.cells) for m in members.values()))
        for column in sorted(columns):
            cells = [members[s].cells[column] for s in seeds]
            mean, sd = seed_spread([c.value for c in cells])
            halves = [c.half for c in cells]
            half = None if None in halves else float(np.mean(halves))
            limit = cells[0].limit if len({c.limit for c in cells}) == 1 else None
            row.cells[column] = Cell(mean, half, spread=sd, n_seeds=len(seeds), limit=limit)
        merged.append(row)
    return merged


def column_p(
    reference: Any, row: Any, strata: Sequence[str], metric: str, n_permutations: int, seed: int
) -> float:
    """p of `row` against `reference` on `strata`; InputError when not over the same examples."""
    common = sorted(set(reference.replicates) & set(row.replicates))
    if not common:
        raise InputError("no seed in common: nothing to pair")
    a = [[reference.replicates[s].scores[p] for p in strata] for s in common]
    b = [[row.replicates[s].scores[p] for p in strata] for s in common]
    if len(common) > 1:
        return test_over_seeds(a, b, metric, strata).p_value
    aligned = [align(x, y, p) for x, y, p in zip(a[0], b[0], strata, strict=True)]
    return sign_flip_test(
        [x.columns[metric] for x in a[0]],
        [y.columns[metric] for y in aligned],
        n_resamples=n_permutations,
        seed=seed,
    )
