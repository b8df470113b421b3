"""Task kind ``odd-one-out`` and its dataset loader.

An example is three code snippets, two of which do the same thing; the model
embeds all three and picks the one least similar to the other two (the lowest
sum of cosines). It scores 1 when that is the odd one, 0 otherwise, and 0 on
a tie for the lowest (a model that cannot tell earns nothing): chance is 1/3.

Data: JSON lines ``{"id": str, "language": str, "items": [str, str, str], "odd": 0|1|2}``,
one partition per language; the bundled file, or ``odd_one_out.jsonl`` in ``--data-dir``.
Every bad line stops the run with its file and line (harness.errors.InputError).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DatasetOptions
from harness.errors import InputError
from harness.jsonl import jsonl_rows
from harness.task_kind import Evaluation, EvaluationOptions

BUNDLED = Path(__file__).with_name("data") / "odd_one_out.jsonl"
METRIC = "odd_one_out_accuracy"


@dataclass(frozen=True)
class Triple:
    id: str
    items: tuple[str, str, str]
    odd: int


@dataclass
class Partition:
    """What the runner needs of a partition: a name and what the task kind evaluates."""

    name: str
    eval: list[Triple]


@dataclass
class OddOneOutDataset:
    """What the runner needs of a dataset: a name, partitions and meta (kept in results)."""

    name: str
    partitions: dict[str, Partition]
    meta: dict[str, Any] = field(default_factory=dict)


def load(options: DatasetOptions) -> OddOneOutDataset:
    """The registered dataset loader: ``load(DatasetOptions) -> dataset``."""
    path = Path(options.data_dir) / "odd_one_out.jsonl" if options.data_dir else BUNDLED
    if not path.is_file():
        raise InputError("missing; put odd_one_out.jsonl in the --data-dir folder", path=path)
    by_language: dict[str, list[Triple]] = {}
    seen: set[str] = set()
    for line, record in jsonl_rows(path):
        triple, language = _triple(record, path, line)
        if triple.id in seen:
            raise InputError(f"duplicate id {triple.id!r}", path=path, line=line)
        seen.add(triple.id)
        by_language.setdefault(language, []).append(triple)
    wanted = options.languages or sorted(by_language)
    unknown = [name for name in wanted if name not in by_language]
    if unknown:
        known = ", ".join(sorted(by_language))
        raise InputError(f"no {unknown[0]!r} examples (languages: {known})", path=path)
    partitions = {
        name: Partition(name, by_language[name][: options.limit or None]) for name in wanted
    }
    meta = {"source": "bundled" if path == BUNDLED else str(path.resolve()),
            "sizes": {name: len(p.eval) for name, p in partitions.items()}}  # fmt: skip
    return OddOneOutDataset("odd-one-out-bundled", partitions, meta)


def _triple(record: dict[str, Any], path: Path, line: int) -> tuple[Triple, str]:
    for name, kind in (("id", str), ("language", str), ("items", list), ("odd", int)):
        if not isinstance(record.get(name), kind) or isinstance(record.get(name), bool):
            raise InputError(f"field {name!r} must be a {kind.__name__}", path=path, line=line)
    items = record["items"]
    if len(items) != 3 or not all(isinstance(item, str) and item.strip() for item in items):
        raise InputError("field 'items' must hold three non-empty strings", path=path, line=line)
    if record["odd"] not in (0, 1, 2):
        odd = record["odd"]
        raise InputError(f"field 'odd' must be 0, 1 or 2, not {odd}", path=path, line=line)
    return Triple(record["id"], tuple(items), record["odd"]), record["language"]  # type: ignore[arg-type]


def odd_one(embeddings: np.ndarray, tolerance: float = 1e-6) -> int | None:
    """Index of the row least similar to the other two; None on a tie for least.

    >>> odd_one(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    2
    """
    similarity = embeddings @ embeddings.T
    to_others = similarity.sum(axis=1) - np.diag(similarity)
    lowest = np.flatnonzero(to_others <= to_others.min() + tolerance)
    return int(lowest[0]) if len(lowest) == 1 else None


class OddOneOut:
    """The task kind: ``evaluate(model, split, options) -> Evaluation``."""

    name = "odd-one-out"

    def evaluate(self, model: Any, split: list[Triple], options: EvaluationOptions) -> Evaluation:
        started = time.perf_counter()
        texts = [item for triple in split for item in triple.items]
        embeddings = np.asarray(model.encode(texts, description="encoding triples"))
        per_example = []
        for number, triple in enumerate(split):
            chosen = odd_one(embeddings[3 * number : 3 * number + 3])
            per_example.append({"id": triple.id, METRIC: float(chosen == triple.odd)})
        return Evaluation(per_example, n_candidates=3,
                          timings={"evaluate_s": time.perf_counter() - started})  # fmt: skip
