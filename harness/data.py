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
    queries: str = "text"  # the task card's: "code" asks for code queries (code-to-code)


# --- repository-level completion (task kind `completion`, task `rc`) -------------------------


@dataclass(frozen=True)
class CompletionExample:
    """One assertion to complete: the model sees `prefix` and must produce `target`.

    `commit_index` is the commit (0 = the first one mined) that introduced the
    assertion on the evolution track, or None. The two split labels are the
    completion task's two protocols (cross-repository: whether its repository
    trains or is held out; in-repository: whether this assertion trains or is
    held out); the values each takes are the loaders' (the built-in ones share
    Code2LoRA's, harness.plugins.datasets.completion_common). `statement` is a
    key of the whole assertion's source with whitespace removed (equal keys,
    equal statements), or "" where the source does not give one (RepoPeftBench).
    """

    id: str
    repo: str
    prefix: str
    target: str
    test_file: str = ""
    line: int = 0
    commit_index: int | None = None
    cross_repo_split: str = "train"
    in_repo_split: str = "train"
    statement: str = ""
    answer_source: str | None = None
    """Where the target can be found (``file``, ``repo``, ``none``: the rule is the loader's,
    recorded in its dataset meta); None when the data does not say (never guessed)."""


def same_statement(a: CompletionExample, b: CompletionExample) -> bool:
    """True when `a` and `b` are the same assertion statement, whitespace aside.

    By their `statement` keys when both have one; else by what each shows of
    it: the prefix's last line and the target, whitespace removed (so a
    different statement ending in the same line and answer counts as equal).

    >>> a = CompletionExample("a", "r", "x = 1\\nassert f(x) == ", "2")
    >>> same_statement(a, CompletionExample("b", "r", "y = 0\\nassert f( x )  ==  ", "2"))
    True
    """
    if a.statement and b.statement:
        return a.statement == b.statement
    return shown_statement(a) == shown_statement(b)


def shown_statement(example: CompletionExample) -> str:
    """The prefix's last line and the target with whitespace removed (``same_statement``)."""
    last_line = example.prefix.rpartition("\n")[2]  # from the end: no split of the prefix
    return "".join((last_line + example.target).split())


@dataclass(frozen=True)
class Commit:
    """One commit of the evolution track: the diff of its non-test code and what it tested.

    `repo_state_embedding` and `diff_embedding` are filled by loaders whose data
    ships them (RepoPeftBench's commits parquet); mined data leaves them None
    and carries the text instead.
    """

    repo: str
    index: int
    sha: str = ""
    diff: str = ""
    example_ids: tuple[str, ...] = ()
    repo_state_embedding: tuple[float, ...] | None = None
    diff_embedding: tuple[float, ...] | None = None


@dataclass
class CompletionPartition:
    """One repository: its evaluation examples and, for in-repo training, its own.

    `root` is the repository's source tree at the evaluated snapshot (for
    strategies that read the repository: retrieval augmentation, hypernetworks),
    None when the data ships no source.
    """

    name: str
    eval: list[CompletionExample]
    train: list[CompletionExample] = field(default_factory=list)
    valid: list[CompletionExample] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    root: Path | None = None


@dataclass
class CompletionDataset:
    """What a completion dataset loader returns: partitions are repositories.

    `train` is the shared training pool (cross-repo: every example of the
    training repositories; in-repo: every repository's in-repo training
    examples); `protocol` is "cross" or "in". `roots` and `commits` hold every
    repository's source tree and evolution track, the training repositories'
    too (a hypernetwork reads the repositories it trains on).
    """

    name: str
    partitions: dict[str, CompletionPartition]
    train: list[CompletionExample] = field(default_factory=list)
    protocol: str = "cross"
    meta: Mapping[str, Any] = field(default_factory=dict)
    roots: dict[str, Path] = field(default_factory=dict)
    commits: dict[str, list[Commit]] = field(default_factory=dict)
