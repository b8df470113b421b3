"""Runs and their per-example scores: what a paired test reads.

A run is one result file of a store; its per-example rows (the JSONL beside it) are read
as score columns keyed by example id (`read_scores`), and two runs' columns are joined by
id (`align`), refusing runs over different examples with the ids only in one of them.
harness.compare tests the differences; the leaderboards and the report read the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import InputError
from harness.results import Result, examples_path, find_results, read_examples, read_result
from harness.stats import UNKNOWN

RunKey = tuple[str, str, str]
"""(task, dataset, partition)."""


@dataclass(frozen=True)
class Run:
    """A stored result and where it lies."""

    result: Result
    path: Path

    @property
    def key(self) -> RunKey:
        return (self.result.task, self.result.dataset, self.result.partition)

    @property
    def system(self) -> str:
        return f"{self.result.model} / {self.result.strategy}"


@dataclass(frozen=True)
class ExampleScores:
    """Per-example scores of one run: ids in file order and one array per metric."""

    ids: list[str]
    columns: dict[str, np.ndarray]
    source: str
    labels: dict[str, list[str]] = field(default_factory=dict)
    """Per-example values of the fields asked for (``answer_source``); UNKNOWN where a row
    does not say."""

    def split_by(self, name: str) -> dict[str, ExampleScores]:
        """The examples of each value of field `name` (read with ``fields=[name]``)."""
        groups: dict[str, list[int]] = {}
        for index, value in enumerate(self.labels[name]):
            groups.setdefault(value, []).append(index)
        return {
            value: ExampleScores(
                [self.ids[i] for i in rows],
                {metric: column[rows] for metric, column in self.columns.items()},
                self.source,
            )
            for value, rows in sorted(groups.items())
        }


def pooled(parts: Sequence[tuple[str, ExampleScores]]) -> ExampleScores:
    """Several partitions' examples as one set, each id prefixed with its partition."""
    names = list(parts[0][1].columns) if parts else []
    return ExampleScores(
        [f"{partition}/{i}" for partition, scores in parts for i in scores.ids],
        {m: np.concatenate([scores.columns[m] for _, scores in parts]) for m in names},
        ", ".join(scores.source for _, scores in parts),
    )


def load_runs(path: Path) -> list[Run]:
    """The runs in a result file or under a folder of a result store."""
    if path.is_file():
        return [Run(read_result(path), path)]
    if not path.is_dir():
        raise InputError("no such result file or folder", path=path)
    runs = [Run(read_result(p), p) for p in find_results(path)]
    if not runs:
        raise InputError("holds no result files", path=path)
    return runs


def read_scores(run: Run, metrics: Iterable[str], fields: Sequence[str] = ()) -> ExampleScores:
    """The per-example rows of a run as arrays; every row needs an id and each metric.
    `fields` are read as labels (a breakdown's field; UNKNOWN where a row does not say)."""
    jsonl = examples_path(run.path)
    if not jsonl.exists():
        raise InputError("per-example file is missing (needed for a paired test)", path=jsonl)
    rows = read_examples(run.path, run.result.examples_sha256)
    names = list(metrics)
    ids: list[str] = []
    values = np.empty((len(rows), len(names)))
    for number, row in enumerate(rows, 1):
        try:
            ids.append(str(row["id"]))
            values[number - 1] = [float(row[name]) for name in names]
        except KeyError as exc:
            raise InputError(f"example has no {exc.args[0]!r}", path=jsonl, line=number) from None
        except (TypeError, ValueError):
            raise InputError("a metric value is not a number", path=jsonl, line=number) from None
    columns = {name: values[:, i] for i, name in enumerate(names)}
    labels = {
        name: [UNKNOWN if row.get(name) is None else str(row[name]) for row in rows]
        for name in fields
    }
    return ExampleScores(ids, columns, str(jsonl), labels)


def align(a: ExampleScores, b: ExampleScores, what: str) -> ExampleScores:
    """`b` reordered to the example order of `a`; refuses different example sets."""
    for scores in (a, b):
        if len(set(scores.ids)) != len(scores.ids):
            twice = Counter(scores.ids).most_common(1)[0][0]
            raise InputError(f"example id {twice!r} occurs more than once", path=scores.source)
    if a.ids == b.ids:
        return b
    only_a = sorted(set(a.ids) - set(b.ids))
    only_b = sorted(set(b.ids) - set(a.ids))
    if only_a or only_b:
        raise InputError(
            f"{what}: A and B were not scored on the same examples "
            f"(A has {len(a.ids)}, B has {len(b.ids)}; {_few('only in A', only_a)}; "
            f"{_few('only in B', only_b)}): a paired test needs the same examples"
        )
    position = {example: i for i, example in enumerate(b.ids)}
    order = np.array([position[example] for example in a.ids])
    return ExampleScores(list(a.ids), {k: v[order] for k, v in b.columns.items()}, b.source)


def _few(label: str, ids: Sequence[str], shown: int = 3) -> str:
    if not ids:
        return f"{label}: none"
    listed = ", ".join(repr(i) for i in ids[:shown])
    more = f", ... ({len(ids)} in all)" if len(ids) > shown else ""
    return f"{label}: {listed}{more}"
