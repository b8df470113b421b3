"""Splits of task ``rc``: cross-repo by repository, in-repo by statement; per-repo caps.

Cross-repo (RepoPeftBench's ``train | cr_val | cr_test | ood_test``): the
repositories are ordered by ``unit_hash(f"{seed}:repo:{name}")`` and dealt
out in that order, ``cr_test`` first, then ``cr_val``, then ``ood_test``,
the rest to ``train``. With n repositories the counts are::

    cr_test = max(1, round(n * cr_test_fraction))     (defaults 0.2, 0.1, 0.1;
    cr_val  = round(n * cr_val_fraction)               round half up)
    ood_test = round(n * ood_test_fraction)

then, while ``train`` is smaller than another split, ``ood_test`` gives up a
repository, else ``cr_val``, else ``cr_test`` (never below 1). So
``cr_test`` always has a repository and ``train`` the most: 1 repository ->
cr_test; 2 -> 1 train, 1 cr_test; 5 -> 2/1/1/1; 30 -> 18 train, 6 cr_test,
3 cr_val, 3 ood_test. ``ood_test`` is held out exactly like ``cr_test``; with
mined data nothing makes it more out-of-distribution than a hash does.

In-repo (``train | val | test``), by statement group: the examples of one
repository whose assertion statements are equal once whitespace is removed
(``assertions.statement_key``) form a group, and the whole group takes the
label its first example (in path, then offset order) draws::

    h = unit_hash(f"{seed}:in:{first example's id}")
    test if h < test_fraction, val if h < test_fraction + val_fraction, else train

So no statement is in two in-repo splits of a repository: a model trained on
the ``train`` split has never seen an evaluated assertion's statement with its
answer. An example alone in its group keeps the label of its own id; one that
repeats an earlier statement follows it (``in_repo_labels`` counts those as
moved). A group draws one label whatever its size, so each split's expected
share of examples is still its fraction.

>>> cross_repo_splits(["a", "b"], seed=0) in ({"a": "train", "b": "cr_test"},
...                                            {"a": "cr_test", "b": "train"})
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from harness.plugins.local_dataset.splits import unit_hash

T = TypeVar("T")


def _rounded(value: float) -> int:
    return int(value + 0.5)


def cross_repo_counts(
    n: int, *, cr_val: float = 0.1, cr_test: float = 0.2, ood_test: float = 0.1
) -> dict[str, int]:
    """How many of `n` repositories each cross-repo split gets (see the module doc).

    >>> [tuple(cross_repo_counts(n).values()) for n in (1, 2, 5, 30)]
    [(0, 0, 1, 0), (1, 0, 1, 0), (2, 1, 1, 1), (18, 3, 6, 3)]
    """
    if n == 0:
        return {"train": 0, "cr_val": 0, "cr_test": 0, "ood_test": 0}
    counts = {
        "cr_val": _rounded(n * cr_val),
        "cr_test": max(1, _rounded(n * cr_test)),
        "ood_test": _rounded(n * ood_test),
    }
    while True:
        train = n - sum(counts.values())
        if train >= max(counts.values()):
            break
        giver = next(
            (s for s in ("ood_test", "cr_val") if counts[s] > 0),
            "cr_test" if counts["cr_test"] > 1 else None,
        )
        if giver is None:
            break
        counts[giver] -= 1
    return {"train": n - sum(counts.values()), **counts}


def cross_repo_splits(repos: Sequence[str], seed: int, **fractions: float) -> dict[str, str]:
    """Repository name -> its cross-repo split, deterministic from `seed` and the names."""
    order = sorted(set(repos), key=lambda name: (unit_hash(f"{seed}:repo:{name}"), name))
    counts = cross_repo_counts(len(order), **fractions)
    labels: dict[str, str] = {}
    for split in ("cr_test", "cr_val", "ood_test"):
        for name in order[len(labels) : len(labels) + counts[split]]:
            labels[name] = split
    return {name: labels.get(name, "train") for name in order}


def in_repo_split(example_id: str, seed: int, *, val: float = 0.1, test: float = 0.1) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for one example, from a seeded hash of its id."""
    h = unit_hash(f"{seed}:in:{example_id}")
    return "test" if h < test else "val" if h < test + val else "train"


def in_repo_labels(
    examples: Sequence[tuple[str, str]], seed: int, *, val: float = 0.1, test: float = 0.1
) -> tuple[list[str], int]:
    """In-repo labels of one repository's ``(id, statement key)`` pairs, given in path and
    offset order, by statement group (module doc); and how many differ from their own id's.

    >>> in_repo_labels([("r:t.py:1:8", "k1"), ("r:t.py:2:8", "k1")], 0)[0] == [
    ...     in_repo_split("r:t.py:1:8", 0)] * 2
    True
    """
    group_label: dict[str, str] = {}
    labels, moved = [], 0
    for example_id, statement in examples:
        own = in_repo_split(example_id, seed, val=val, test=test)
        label = group_label.setdefault(statement, own)
        labels.append(label)
        moved += label != own
    return labels, moved


def capped(items: Sequence[T], limit: int, seed: int, label: str) -> list[T]:
    """At most `limit` of `items` (given sorted), chosen and ordered by a seeded shuffle.

    The shuffled order makes the first N of a repository a fair sample for ``--limit``.
    """
    rng = random.Random(f"{seed}:rc:{label}")
    return rng.sample(list(items), min(limit, len(items)))
