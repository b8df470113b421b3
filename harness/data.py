"""Typed examples that dataset loaders yield and task kinds consume.

A retrieval dataset is a set of partitions (one per language); each holds the
evaluation split (queries ranked against the whole corpus of that partition,
the LoRACode/UniXcoder protocol) and, for strategies that train, the training
pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainPair:
    """One positive pair for contrastive training.

    `group` names the source the pair comes from (a program, a file); pairs of
    one group never serve as each other's in-batch negatives.
    """

    query: str
    positive: str
    group: str = ""


@dataclass
class RetrievalSplit:
    """Queries, the corpus they are ranked against, and graded relevance.

    With `query_pool` and `corpus_pool` (id -> pool name) each query is
    ranked only against the corpus of its pool: CodeSearchNet's original
    protocol (its gold and 999 distractors). Without them, the whole corpus.
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]
    query_pool: dict[str, str] | None = None
    corpus_pool: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.queries)


@dataclass
class RetrievalPartition:
    """One partition (usually a programming language) of a retrieval dataset."""

    name: str
    eval: RetrievalSplit
    train: list[TrainPair] = field(default_factory=list)
    valid: RetrievalSplit | None = None


@dataclass
class RetrievalDataset:
    """What a retrieval dataset loader returns.

    `meta` is recorded in every result (source path or hub id, revision,
    protocol, sizes) so a number can be traced to the data that produced it.
    """

    name: str
    partitions: dict[str, RetrievalPartition]
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class DatasetOptions:
    """What a dataset loader is asked for.

    `data_dir` is None when the user named no local copy (a loader then uses
    its default source or the hub); `languages` None means every partition;
    `limit` caps evaluation queries per partition (numbers are then not
    comparable with full runs).
    """

    task: str
    cache_dir: Path
    data_dir: Path | None = None
    split: str = "test"
    languages: list[str] | None = None
    limit: int | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
