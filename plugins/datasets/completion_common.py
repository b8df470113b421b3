"""What every loader of completion data (task kind ``completion``) does alike: the
``local`` miner and ``repopeft`` both narrow a dataset to the repositories asked for
and count the in-repo statements their splits share.

It lives here, not in either loader, so that neither plugin imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.data import (
    Commit,
    CompletionDataset,
    CompletionExample,
    CompletionPartition,
    shown_statement,
)
from harness.errors import HarnessError

CROSS_REPO_SPLITS = ("train", "cr_val", "cr_test", "ood_test")
IN_REPO_SPLITS = ("train", "val", "test")
# what ``--split`` may name for a completion task: the cross-repo evaluation splits (each
# repository in them is unseen in training) and the in-repo ones (held-out assertions of
# repositories whose other assertions train)
COMPLETION_EVAL_SPLITS = {"cr_val": "cross", "cr_test": "cross", "ood_test": "cross",
                          "val": "in", "test": "in"}  # fmt: skip


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
    keep: Callable[[CompletionExample], bool] | None = None,
) -> CompletionDataset:
    """The partitions `split` asks for (`completion_partitions`), narrowed to
    the repositories named, each evaluated on the examples `keep` accepts (all
    without it; a repository left with none is dropped), then on its first `limit`.

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
    if keep is not None:
        for partition in dataset.partitions.values():
            partition.eval = [example for example in partition.eval if keep(example)]
        dataset.partitions = {n: p for n, p in dataset.partitions.items() if p.eval}
        if not dataset.partitions:
            raise HarnessError(
                f"{what}: no repository of the {split} split has an example left to "
                f"evaluate ({where})"
            )
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


def completion_partitions(
    name: str,
    examples: list[CompletionExample],
    split: str,
    *,
    commits: dict[str, list[Commit]] | None = None,
    roots: dict[str, Path] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> CompletionDataset:
    """Arrange labelled examples into the partitions `split` asks for.

    Cross-repo (`cr_val`, `cr_test`, `ood_test`): one partition per repository
    whose cross-repo split is `split`, evaluated on all its examples; the
    training pool is every example of the `train` repositories. In-repo
    (`val`, `test`): one partition per repository with examples in both the
    in-repo `train` split and `split`; it trains on the former and is scored
    on the latter.
    """
    protocol = COMPLETION_EVAL_SPLITS.get(split)
    if protocol is None:
        raise HarnessError(
            f"--split {split!r}: a completion task evaluates on one of "
            f"{', '.join(COMPLETION_EVAL_SPLITS)}"
        )
    by_repo: dict[str, list[CompletionExample]] = {}
    for example in examples:
        by_repo.setdefault(example.repo, []).append(example)
    commits, roots = commits or {}, roots or {}
    partitions: dict[str, CompletionPartition] = {}
    pool: list[CompletionExample] = []
    for repo in sorted(by_repo):
        items = by_repo[repo]
        if protocol == "cross":
            label = items[0].cross_repo_split
            if label == "train":
                pool += items
            elif label == split:
                partitions[repo] = CompletionPartition(
                    repo, items, commits=commits.get(repo, []), root=roots.get(repo)
                )
            continue
        train = [e for e in items if e.in_repo_split == "train"]
        held = [e for e in items if e.in_repo_split == split]
        if train and held:
            valid = [e for e in items if e.in_repo_split == "val"] if split == "test" else []
            partitions[repo] = CompletionPartition(
                repo, held, train, valid, commits.get(repo, []), roots.get(repo)
            )
            pool += train
    return CompletionDataset(
        name, partitions, pool, protocol, dict(meta or {}),
        roots={r: roots[r] for r in sorted(by_repo) if r in roots},
        commits={r: commits[r] for r in sorted(by_repo) if r in commits},
    )  # fmt: skip
