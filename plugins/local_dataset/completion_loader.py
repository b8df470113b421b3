"""``load_local_completion``: the ``local`` dataset for task ``rc``, mined once and cached.

The first call mines the repositories (``completion_mining``) and writes::

    <cache_dir>/local-rc/<key>/meta.json       settings, repositories, counts per repo and split
    <cache_dir>/local-rc/<key>/examples.jsonl  one example per line: id, repo, test_file, line,
                                               start (the target's character offset), target,
                                               statement (its key), commit_index,
                                               cross_repo_split, in_repo_split
    <cache_dir>/local-rc/<key>/files.jsonl     {repo, path, text} of each file with examples
    <cache_dir>/local-rc/<key>/commits.jsonl   {repo, index, sha, diff, example_ids}

under a temporary name, renamed into place when whole. The key hashes
everything that determines the examples: the miner version, the Python
version, the seed, the settings (``context_chars`` aside: the prefix is cut
from the stored file text when loading) and every repository with its
version. Later calls with the same key read the folder without mining, and
warn again about each repository whose git history it records as unreadable
(``git_error``).

``options.split`` is one of ``cr_val``, ``cr_test``, ``ood_test``
(cross-repo) or ``val``, ``test`` (in-repo); the partitions are the
repositories ``completion_partitions`` picks for it, each with its ``root``
and evolution-track ``commits``; ``options.languages`` narrows them to the
named repositories and ``options.limit`` keeps the first N evaluation
examples of each (stored in a seeded shuffled order, so a fair sample).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import atomic
from harness.data import Commit, CompletionDataset, CompletionExample, DatasetOptions
from harness.errors import HarnessError
from harness.jsonl import jsonl_rows
from harness.plugins.datasets.completion_common import (
    SPLIT_LABELS,
    check_split,
    partitioned,
    shared_statements,
)
from harness.plugins.local_dataset.completion_mining import (
    MinedCompletion,
    mine_completion,
    warn_git_errors,
)
from harness.plugins.local_dataset.completion_settings import (
    WHAT,
    CompletionSettings,
    completion_settings,
)
from harness.plugins.local_dataset.repositories import (
    Repository,
    default_repositories,
    repositories_in,
)
from harness.plugins.local_dataset.sources import python_version
from harness.progress import console

MINER_VERSION = "3"  # 2: in-repo splits by statement group; 3: answer sources
CACHE_FOLDER = "local-rc"
IN_REPO_RULE = "by statement group: equal statements (whitespace aside) share one split"
ANSWER_SOURCE_RULE = (
    "file: every identifier and literal of the target occurs in its test file before it; "
    "repo: each occurs there or in the repository's non-test source, some only there; none: "
    "otherwise (builtins and keywords need no file); harness.plugins.local_dataset.answer_source"
)


def load_local_completion(options: DatasetOptions) -> CompletionDataset:
    """The ``local`` completion dataset for `options`, mined on first use and cached."""
    check_split(options.split, WHAT)
    settings = completion_settings(options.extra, options.seed)
    repos = find_repositories(options.data_dir, settings)
    key = cache_key(settings, repos)
    folder = Path(options.cache_dir) / CACHE_FOLDER / key
    if not (folder / "meta.json").is_file():
        mined = mine_completion(repos, settings)
        write_mined(folder, mined, settings, repos, key)
        _say_mined(mined, folder)
    else:  # mined earlier: what git could not read then is said again, from the record
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        warn_git_errors({r["root"]: r.get("git_error") for r in meta["repos"].values()})
    return read_dataset(
        folder,
        options.split,
        context_chars=settings.context_chars,
        repos=options.languages,
        limit=options.limit,
        track_only=settings.track_only,
    )


def find_repositories(data_dir: Path | None, settings: CompletionSettings) -> list[Repository]:
    """The repositories under `data_dir`, or this machine's (``repositories``); never none."""
    repos = repositories_in(data_dir, settings.layout) if data_dir else default_repositories()
    if not repos:
        where = str(data_dir) if data_dir else "the standard library and site-packages"
        raise HarnessError(f"{WHAT}: no Python test files found in {where}")
    return repos


def cache_key(settings: CompletionSettings, repos: list[Repository]) -> str:
    """A hash of everything that determines the mined examples (24 hex digits)."""
    described = {
        "miner_version": MINER_VERSION,
        "python": python_version(),
        "settings": settings.determining(),
        "repos": [repo.describe() for repo in repos],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


def write_mined(
    folder: Path,
    mined: MinedCompletion,
    settings: CompletionSettings,
    repos: list[Repository],
    key: str,
) -> dict[str, Any]:
    """Write `mined` to `folder` atomically (kept as it is when another process won); the meta."""
    meta = {
        "dataset": "local",
        "task": "rc",
        "cache_key": key,
        "miner_version": MINER_VERSION,
        "seed": settings.seed,
        "settings": settings.determining(),
        "seconds": round(mined.seconds, 2),
        "sizes": sizes(mined),
        "repos": {
            repo.name: {**repo.describe(), **asdict(mined.reports[repo.name])} for repo in repos
        },
    }

    def fill(temporary: Path) -> None:
        _write_jsonl(temporary / "examples.jsonl", (e.row() for e in mined.examples))
        texts = sorted(mined.texts.items())
        _write_jsonl(
            temporary / "files.jsonl", ({"repo": r, "path": p, "text": t} for (r, p), t in texts)
        )
        commits = (asdict(c) for repo in sorted(mined.commits) for c in mined.commits[repo])
        _write_jsonl(temporary / "commits.jsonl", commits)
        (temporary / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    with atomic.publishing(folder, keep="meta.json") as temporary:  # a hash names it
        fill(temporary)
    return meta


def sizes(mined: MinedCompletion) -> dict[str, Any]:
    """Repositories and examples per cross-repo split, examples per in-repo split."""
    counts = {"repositories": 0, "examples": 0}
    cross = {split: dict(counts) for split in SPLIT_LABELS["cross_repo_split"]}
    for report in mined.reports.values():
        if report.cross_repo_split is not None:
            cross[report.cross_repo_split]["repositories"] += 1
            cross[report.cross_repo_split]["examples"] += report.kept
    in_repo = {split: 0 for split in SPLIT_LABELS["in_repo_split"]}
    for example in mined.examples:
        in_repo[example.in_repo_split] += 1
    commits = sum(len(track) for track in mined.commits.values())
    moved = sum(report.in_repo_moved for report in mined.reports.values())
    return {"cross_repo": cross, "in_repo": in_repo, "examples": len(mined.examples),
            "commits": commits, "in_repo_moved": moved}  # fmt: skip


def read_examples(folder: Path, context_chars: int) -> list[CompletionExample]:
    """The stored examples, each prefix cut from its file's text."""
    texts = {(r["repo"], r["path"]): r["text"] for _, r in jsonl_rows(folder / "files.jsonl")}
    examples = []
    for _, row in jsonl_rows(folder / "examples.jsonl"):
        start = row.pop("start")
        text = texts[(row["repo"], row["test_file"])]
        prefix = text[max(0, start - context_chars) : start]
        examples.append(CompletionExample(prefix=prefix, **row))
    return examples


def read_commits(folder: Path) -> dict[str, list[Commit]]:
    commits: dict[str, list[Commit]] = {}
    for _, row in jsonl_rows(folder / "commits.jsonl"):
        row["example_ids"] = tuple(row["example_ids"])
        commits.setdefault(row["repo"], []).append(Commit(**row))
    return commits


def read_dataset(
    folder: Path,
    split: str,
    *,
    context_chars: int,
    repos: list[str] | None = None,
    limit: int | None = None,
    track_only: bool = False,
) -> CompletionDataset:
    """A stored mined folder arranged for `split` (``completion_partitions``); with
    `track_only`, each repository is scored on the assertions its evolution track
    introduced."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    roots = {name: Path(info["root"]) for name, info in meta["repos"].items()}
    described = {
        "source_roots": sorted({info["root"] for info in meta["repos"].values()}),
        "n_repositories": sum(
            info["cross_repo_split"] is not None for info in meta["repos"].values()
        ),
        "sizes": meta["sizes"],
        "seed": meta["seed"],
        "miner_version": meta["miner_version"],
        "cache_key": meta["cache_key"],
        "cache_dir": str(folder),
        "settings": {**meta["settings"], "context_chars": context_chars},
        "eval_split": split,
        "limit": limit,
        "track_only": track_only,
        "format": "assertion completion: prefix = test file up to the expected value",
        "in_repo_rule": IN_REPO_RULE,
        "answer_source": ANSWER_SOURCE_RULE,
        "in_repo_moved": meta["sizes"].get("in_repo_moved", 0),
    }
    examples = read_examples(folder, context_chars)
    described["in_repo_shared_statements"] = shared_statements(examples)  # 0 by the rule
    counts = ", ".join(f"{s} {v['repositories']}" for s, v in meta["sizes"]["cross_repo"].items())
    return partitioned(
        "local",
        examples,
        split,
        commits=read_commits(folder),
        meta=described,
        repos=repos,
        limit=limit,
        what=WHAT,
        where=f"repositories per cross-repo split: {counts}; {folder / 'meta.json'}"
        + (f"; track_only: {TRACK_ONLY}" if track_only else ""),
        roots=roots,
        keep=_on_track if track_only else None,
    )


TRACK_ONLY = "assertions introduced by an evolution track's commits"


def _on_track(example: CompletionExample) -> bool:
    return example.commit_index is not None


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def _say_mined(mined: MinedCompletion, folder: Path) -> None:
    read = sum(r.files_read for r in mined.reports.values())
    console().print(
        f"local dataset (rc): {len(mined.examples)} assertion examples from "
        f"{sum(r.cross_repo_split is not None for r in mined.reports.values())} repositories "
        f"({read} test files read, {mined.seconds:.1f} s); {moved_line(mined)}; cached in {folder}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def moved_line(mined: MinedCompletion) -> str:
    """What the in-repo rule changed, for the mining message."""
    moved = sum(r.in_repo_moved for r in mined.reports.values())
    return (
        f"in-repo splits by statement group: {moved} assertions moved to the split of an equal "
        "statement, none dropped"
    )
