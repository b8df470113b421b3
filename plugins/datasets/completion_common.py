"""What every loader of completion data (task kind ``completion``) does alike: the
``local`` miner and ``repopeft`` both narrow a dataset to the repositories asked for
and count the in-repo statements their splits share.

It lives here, not in either loader, so that neither plugin imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.data import (
    COMPLETION_EVAL_SPLITS,
    CROSS_REPO_SPLITS,
    IN_REPO_SPLITS,
    Commit,
    CompletionDataset,
    CompletionExample,
    completion_partitions,
    shown_statement,
)
from harness.errors import HarnessError

SPLIT_LABELS = {"cross_repo_split": CROSS_REPO_SPLITS, "in_repo_split": IN_REPO_SPLITS}
"""The two split labels every completion example carries and the values each takes
(RepoPeftBench's), the one place the completion loaders read them from."""


def check_split(split: str, what: str) -> None:
    """Refuse a ``--split`` no completion dataset has, before anything is read."""
    if split not in COMPLETION_EVAL_SPLITS:
        raise HarnessError(
            f"{what}: unknown split {split!r} (known: {', '.join(COMPLETION_EVAL_SPLITS)})"
        )


def partitioned(
    name: str,
    examples: list[CompletionExample],
    split: str,
    *,
    commits: dict[str, list[Commit]],
    meta: Mapping[str, Any],
    repos: list[str] | None,
    limit: int | None,
    what: str,
    where: str,
    roots: dict[str, Path] | None = None,
) -> CompletionDataset:
    """The partitions `split` asks for (``harness.data.completion_partitions``), narrowed to
    the repositories named, each evaluated on its first `limit`.

    Raises HarnessError for a repository not in the split, or when no
    repository is (`where` says where to look).
    """
    dataset = completion_partitions(name, examples, split, commits=commits, roots=roots, meta=meta)
    if repos:
        unknown = sorted(set(repos) - set(dataset.partitions))
        if unknown:
            raise HarnessError(
                f"{what}: {unknown[0]!r} is not a repository of the {split} split "
                f"(it has: {', '.join(sorted(dataset.partitions)) or 'none'})"
            )
        dataset.partitions = {name: dataset.partitions[name] for name in repos}
    if not dataset.partitions:
        raise HarnessError(f"{what}: no repository has examples in the {split} split ({where})")
    if limit is not None:
        for partition in dataset.partitions.values():
            partition.eval = partition.eval[:limit]
    return dataset


def shared_statements(examples: Sequence[CompletionExample]) -> dict[str, int]:
    """For ``val`` and ``test``: how many examples have the statement of a training example
    of the same repository (``harness.data.same_statement``; 0 for mined data, by the
    ``local`` miner's statement-group rule; a loader of given splits records it in the
    dataset's meta)."""
    training: set[tuple[str, str]] = set()
    for example in examples:
        if example.in_repo_split == "train":
            training.add((example.repo, _statement_of(example)))
    shared = {"val": 0, "test": 0}
    for example in examples:
        if example.in_repo_split in shared:
            shared[example.in_repo_split] += (example.repo, _statement_of(example)) in training
    return shared


def _statement_of(example: CompletionExample) -> str:
    return example.statement or f"shown:{shown_statement(example)}"
