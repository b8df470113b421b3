"""Mining task ``rc``: repositories -> labelled assertion-completion examples.

For each repository (``repositories``), in order:

1. read up to ``max_files_per_repo`` of its test files (a seeded choice,
   ``splits.mining_order``; files over ``max_file_bytes`` or not UTF-8 are
   skipped, files that do not parse are counted and skipped) and find their
   assertions (``assertions``); an example's id is
   ``repo:path:line:column`` (1-based, the column in characters) of its target;
2. drop duplicates: an example whose target and the 1000 characters before
   it repeat an earlier one's (repositories, then paths, then positions in
   sorted order; copied test files and copied blocks);
3. leave out repositories with fewer than ``min_per_repo`` examples, and
   keep at most ``max_per_repo`` of each (a seeded sample, in shuffled order);
4. for a git repository, the evolution track (``git_history``): an example
   gets the index of the last commit that introduced its assertion, and each
   commit lists the examples it introduced; a repository whose history git
   cannot read (here or in ``repositories``) has none: ``git_error`` in its
   report says why, and a warning on stderr names it;
5. label the splits (``completion_splits``): in-repo by statement group, so
   no normalised statement is in two in-repo splits of a repository; the
   report counts the examples that moved to their group's split
   (``in_repo_moved``); none is dropped for it;
6. class each example by where its answer can be found (``answer_source``:
   ``file``, ``repo`` or ``none``, the rule in that module).

Examples carry the character offset of their target instead of a prefix; the
loader cuts the prefix from the file text (``context_chars``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from harness.data import Commit
from harness.plugins.local_dataset import answer_source, completion_splits, git_history
from harness.plugins.local_dataset.assertions import find_assertions
from harness.plugins.local_dataset.completion_settings import WHAT, CompletionSettings
from harness.plugins.local_dataset.repositories import Repository, kept_folder
from harness.plugins.local_dataset.splits import mining_order
from harness.progress import console, progress_bar
from harness.tree import read_regular

DUPLICATE_CONTEXT = 1000


@dataclass(frozen=True)
class MinedExample:
    """One example before its prefix is cut: the target's offset in ``test_file``'s text."""

    id: str
    repo: str
    test_file: str
    line: int
    start: int
    target: str
    statement: str = ""
    commit_index: int | None = None
    cross_repo_split: str = "train"
    in_repo_split: str = "train"
    answer_source: str | None = None

    def row(self) -> dict[str, Any]:
        """The stored record (``statement``, the key, lets ``icl`` tell equal statements)."""
        return asdict(self)


@dataclass
class RepoReport:
    """What mining one repository found, for ``meta.json``."""

    test_files: int = 0
    files_read: int = 0
    unparsable: int = 0
    unreadable: int = 0
    too_big: int = 0
    assertions: int = 0
    duplicates: int = 0
    kept: int = 0
    cross_repo_split: str | None = None
    in_repo: dict[str, int] = field(default_factory=dict)
    in_repo_moved: int = 0
    commits: int = 0
    examples_with_commit: int = 0
    left_out: str | None = None
    git_error: str | None = None
    answer_sources: dict[str, int] = field(default_factory=dict)


@dataclass
class MinedCompletion:
    """Mined examples, the texts of the files they are in, commits, and the report."""

    examples: list[MinedExample]
    texts: dict[tuple[str, str], str]
    commits: dict[str, list[Commit]]
    reports: dict[str, RepoReport]
    seconds: float = 0.0


def mine_completion(repos: list[Repository], settings: CompletionSettings) -> MinedCompletion:
    """Steps 1-5 of the module doc over `repos` (names must be unique)."""
    started = time.perf_counter()
    reports = {
        repo.name: RepoReport(test_files=len(repo.files), git_error=repo.git_error)
        for repo in repos
    }
    chosen = {repo.name: files_to_read(repo, settings) for repo in repos}
    found: list[MinedExample] = []
    texts: dict[tuple[str, str], str] = {}
    duplicate_keys: dict[str, str] = {}
    total = sum(len(files) for files in chosen.values())
    with progress_bar("rc: mining assertions", total=total, unit="files") as advance:
        for repo in repos:
            for path in chosen[repo.name]:
                advance(1, repo=repo.name)
                text = _read(repo.root / path, settings.max_file_bytes, reports[repo.name])
                mined = _examples(repo.name, path, text, settings, reports[repo.name])
                if mined:
                    texts[(repo.name, path)] = text or ""
                for example in mined:
                    found.append(example)
                    duplicate_keys[example.id] = _duplicate_key(text or "", example)
    by_repo = _deduplicated(found, duplicate_keys, reports)
    kept: dict[str, list[MinedExample]] = {}
    for repo in repos:
        examples = by_repo.get(repo.name, [])
        if len(examples) < max(settings.min_per_repo, 1):
            reports[
                repo.name
            ].left_out = (
                f"{len(examples)} examples, fewer than min_per_repo={settings.min_per_repo}"
            )
            continue
        kept[repo.name] = completion_splits.capped(
            examples, settings.max_per_repo, settings.seed, repo.name
        )
    commits = _evolution([r for r in repos if r.git and r.name in kept], kept, settings, reports)
    examples = _labelled(kept, settings, reports)
    used = {(e.repo, e.test_file) for e in examples}
    texts = {key: text for key, text in texts.items() if key in used}
    examples = _classified(examples, texts, {r.name: r.root for r in repos}, settings, reports)
    warn_git_errors({str(r.root): reports[r.name].git_error for r in repos})
    return MinedCompletion(examples, texts, commits, reports, time.perf_counter() - started)


def warn_git_errors(errors: dict[str, str | None]) -> None:
    """One warning on stderr per repository folder whose git history could not be read."""
    for root, error in errors.items():
        if error:
            console().print(
                f"[yellow]warning:[/] {WHAT}: {escape(root)}: git could not read its history, "
                f"so it has no evolution track: {escape(error)}",
                highlight=False,
                soft_wrap=True,
            )


def files_to_read(repo: Repository, settings: CompletionSettings) -> list[str]:
    """Up to ``max_files_per_repo`` test files, a seeded choice, in path order."""
    keys = mining_order([f"{repo.name}/{path}" for path in repo.files], settings.seed)
    chosen = keys[: settings.max_files_per_repo]
    return sorted(key[len(repo.name) + 1 :] for key in chosen)


def _read(path: Path, max_bytes: int, report: RepoReport) -> str | None:
    try:
        if path.stat().st_size > max_bytes:
            report.too_big += 1
            return None
        return read_regular(path).decode("utf-8")  # a FIFO would block the miner forever
    except (OSError, UnicodeDecodeError):
        report.unreadable += 1
        return None


def _examples(
    repo: str, path: str, text: str | None, settings: CompletionSettings, report: RepoReport
) -> list[MinedExample]:
    if text is None:
        return []
    assertions = find_assertions(
        text,
        max_target_chars=settings.max_target_chars,
        max_target_lines=settings.max_target_lines,
    )
    if assertions is None:
        report.unparsable += 1
        return []
    report.files_read += 1
    report.assertions += len(assertions)
    return [
        MinedExample(
            f"{repo}:{path}:{a.line}:{a.column}", repo, path, a.line, a.start, a.target, a.statement
        )
        for a in assertions
    ]


def _duplicate_key(text: str, example: MinedExample) -> str:
    before = text[max(0, example.start - DUPLICATE_CONTEXT) : example.start]
    return hashlib.sha1(f"{example.target}\0{before}".encode()).hexdigest()


def _deduplicated(
    found: list[MinedExample], keys: dict[str, str], reports: dict[str, RepoReport]
) -> dict[str, list[MinedExample]]:
    """Examples by repository, sorted by (path, offset), later duplicates dropped."""
    seen: set[str] = set()
    by_repo: dict[str, list[MinedExample]] = {}
    for example in sorted(found, key=lambda e: (e.repo, e.test_file, e.start)):
        key = keys[example.id]
        if key in seen:
            reports[example.repo].duplicates += 1
            continue
        seen.add(key)
        by_repo.setdefault(example.repo, []).append(example)
    return by_repo


def _evolution(
    repos: list[Repository],
    kept: dict[str, list[MinedExample]],
    settings: CompletionSettings,
    reports: dict[str, RepoReport],
) -> dict[str, list[Commit]]:
    """Commits of each git repository; sets ``commit_index`` on the kept examples."""
    commits: dict[str, list[Commit]] = {}
    if not repos or settings.max_commits <= 0:
        return commits
    with progress_bar("rc: git history", unit="commits") as advance:
        for repo in repos:
            try:
                track = git_history.evolution(
                    repo.root,
                    max_commits=settings.max_commits,
                    max_diff_chars=settings.max_diff_chars,
                    max_target_chars=settings.max_target_chars,
                    max_target_lines=settings.max_target_lines,
                    advance=lambda n=1, name=repo.name: advance(n, repo=name),
                )
            except git_history.GitError as exc:
                reports[repo.name].git_error = str(exc)
                continue
            introduced_by: dict[tuple[str, str], int] = {}
            for change in track:  # oldest first: a later reintroduction wins
                for old, new in change.renames:
                    for path, key in [k for k in introduced_by if k[0] == old]:
                        introduced_by[(new, key)] = introduced_by.pop((path, key))
                for key in change.introduced:
                    introduced_by[key] = change.index
            examples = [
                _with(e, commit_index=introduced_by.get((e.test_file, e.statement)))
                for e in kept[repo.name]
            ]
            kept[repo.name] = examples
            commits[repo.name] = [
                Commit(
                    repo.name,
                    change.index,
                    change.sha,
                    change.diff,
                    tuple(e.id for e in _in_order(examples) if e.commit_index == change.index),
                )
                for change in track
            ]
            reports[repo.name].commits = len(track)
            reports[repo.name].examples_with_commit = sum(
                e.commit_index is not None for e in examples
            )
    return commits


def _labelled(
    kept: dict[str, list[MinedExample]],
    settings: CompletionSettings,
    reports: dict[str, RepoReport],
) -> list[MinedExample]:
    labels = completion_splits.cross_repo_splits(
        list(kept), settings.seed, **settings.cross_fractions
    )
    examples = []
    for repo, items in kept.items():
        report = reports[repo]
        report.cross_repo_split = labels[repo]
        report.kept = len(items)
        report.in_repo = {"train": 0, "val": 0, "test": 0}
        ordered = _in_order(items)  # a group's first example decides; items keep their order
        splits, report.in_repo_moved = completion_splits.in_repo_labels(
            [(e.id, e.statement) for e in ordered],
            settings.seed,
            val=settings.val_fraction,
            test=settings.test_fraction,
        )
        split_of = {e.id: split for e, split in zip(ordered, splits, strict=True)}
        for example in items:
            split = split_of[example.id]
            report.in_repo[split] += 1
            examples.append(_with(example, cross_repo_split=labels[repo], in_repo_split=split))
    return examples


def _classified(
    examples: list[MinedExample],
    texts: dict[tuple[str, str], str],
    roots: dict[str, Path],
    settings: CompletionSettings,
    reports: dict[str, RepoReport],
) -> list[MinedExample]:
    """Each example with its ``answer_source`` (step 6); the report counts the classes."""
    by_repo: dict[str, list[MinedExample]] = {}
    for example in examples:
        by_repo.setdefault(example.repo, []).append(example)
    classed: dict[str, str] = {}
    with progress_bar("rc: answer sources", total=len(by_repo), unit="repos") as advance:
        for repo, items in by_repo.items():
            advance(1, repo=repo)
            source = answer_source.non_test_source(
                roots[repo], settings.max_file_bytes, kept_folder
            )
            counts = dict.fromkeys(answer_source.ANSWER_SOURCES, 0)
            for example in items:
                before = answer_source.Text(texts[(repo, example.test_file)][: example.start])
                found = answer_source.classify(answer_source.atoms(example.target), before, source)
                classed[example.id] = found
                counts[found] += 1
            reports[repo].answer_sources = counts
    return [_with(e, answer_source=classed[e.id]) for e in examples]


def _in_order(examples: list[MinedExample]) -> list[MinedExample]:
    return sorted(examples, key=lambda e: (e.test_file, e.start))


def _with(example: MinedExample, **changes: Any) -> MinedExample:
    return replace(example, **changes)
