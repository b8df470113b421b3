"""What every loader of completion data (task kind ``completion``) does alike: the
``local`` miner and ``repopeft`` both narrow a dataset to the repositories asked for
and count the in-repo statements their splits share.

It lives here, not in either loader, so that neither plugin imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.data import CompletionDataset, CompletionExample, shown_statement
from harness.errors import HarnessError


def select_partitions(
    dataset: CompletionDataset,
    repos: list[str] | None,
    limit: int | None,
    *,
    what: str,
    where: str,
) -> CompletionDataset:
    """`dataset` narrowed to the repositories named, each evaluated on its first `limit`.

    Raises HarnessError for a repository not in the split, or when no
    repository is (`where` says where to look).
    """
    split = dataset.meta.get("eval_split", "")
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
