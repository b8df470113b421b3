"""The evolution track of a git repository (task ``rc``, Code2LoRA's Evo).

The last `max_commits` commits of the first-parent history of ``HEAD``,
oldest first (index 0 is the oldest kept). For each commit, against its
first parent (the root commit: against the empty tree):

- ``diff``: the unified diff (``git diff -M``) of the Python files that are
  not test files (``assertions.is_test_path``), cut to its first
  `max_diff_chars` characters;
- ``introduced``: the assertions the commit introduced, as ``(test file,
  statement key)``: present in a test file at the commit and absent from the
  same file at the parent (a renamed file is compared with its old path),
  assertions compared by their source with whitespace removed
  (``assertions.statement_key``);
- ``renames``: test files it renamed, ``(old path, new path)``.

Which mined examples those are is decided by the miner: an example of the
snapshot belongs to the last commit that introduced its (file, key).

>>> CommitChanges(0, "abc", "", frozenset()).index
0
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.plugins.local_dataset.assertions import find_assertions, is_test_path

# the same text whatever the user's git configuration (prefixes, colour, external tools)
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "-M", "--src-prefix=a/", "--dst-prefix=b/")
ChangedFile = tuple[str, str | None, str]  # (status letter, path at the parent or None, path)


@dataclass(frozen=True)
class CommitChanges:
    """What one commit changed: its diff of non-test code and the assertions it added."""

    index: int
    sha: str
    diff: str
    introduced: frozenset[tuple[str, str]]
    renames: tuple[tuple[str, str], ...] = ()


class GitError(Exception):
    """A git command failed: the repository gets no evolution track (the miner says why)."""


def evolution(
    root: Path,
    *,
    max_commits: int,
    max_diff_chars: int,
    max_target_chars: int = 120,
    max_target_lines: int = 3,
    advance: Callable[..., None] | None = None,
) -> list[CommitChanges]:
    """The evolution track of the repository at `root`; raises GitError when git fails."""
    if max_commits <= 0:
        return []
    lines = run_git(root, "rev-list", "--first-parent", "--parents", f"-n{max_commits}", "HEAD")
    history = [line.split() for line in lines.decode().splitlines() if line.strip()][::-1]
    empty_tree = run_git(root, "hash-object", "-t", "tree", "--stdin", stdin=b"").decode().strip()
    limits = {"max_target_chars": max_target_chars, "max_target_lines": max_target_lines}
    track = []
    for index, (sha, *parents) in enumerate(history):
        parent = parents[0] if parents else None
        change = commit_changes(root, sha, parent or empty_tree, limits, has_parent=bool(parent))
        track.append(replace(change, index=index, diff=change.diff[:max_diff_chars]))
        if advance is not None:
            advance(1)
    return track


def commit_changes(
    root: Path, sha: str, parent: str, limits: dict[str, int], *, has_parent: bool
) -> CommitChanges:
    """The whole diff, introduced assertions and test renames of `sha` against `parent`
    (`index` is left 0 for the caller to set)."""
    changed = changed_files(root, parent, sha)
    code = [path for _, _, path in changed if path.endswith(".py") and not is_test_path(path)]
    old_code = [old for _, old, path in changed if old and old != path and path in code]
    diff = ""
    if code:
        output = run_git(root, "diff", *DIFF_OPTIONS, parent, sha, "--", *code, *old_code)
        diff = output.decode("utf-8", "replace")
    introduced: set[tuple[str, str]] = set()
    for status, old, path in changed:
        if status == "D" or not is_test_path(path):
            continue
        now = _keys(_blob(root, sha, path), limits)
        before = _keys(_blob(root, parent, old), limits) if has_parent and old else set()
        introduced |= {(path, key) for key in now - before}
    renames = tuple(
        (old, path) for status, old, path in changed if status == "R" and old and is_test_path(old)
    )
    return CommitChanges(0, sha, diff, frozenset(introduced), renames)


def changed_files(root: Path, parent: str, sha: str) -> list[ChangedFile]:
    """``(status, path at the parent, path)`` of each file `sha` changed against `parent`."""
    output = run_git(root, "diff", "--name-status", "-z", "-M", "--no-ext-diff", parent, sha)
    fields = output.decode("utf-8", "surrogateescape").split("\0")
    changed: list[ChangedFile] = []
    at = 0
    while at < len(fields) and fields[at]:
        status = fields[at][0]
        if status in "RC":
            changed.append((status, fields[at + 1], fields[at + 2]))
            at += 3
        else:
            old = None if status == "A" else fields[at + 1]
            changed.append((status, old, fields[at + 1]))
            at += 2
    return changed


def _keys(text: str | None, limits: dict[str, int]) -> set[str]:
    """Statement keys of a file's assertions; none when it is absent or does not parse."""
    found = find_assertions(text, **limits) if text is not None else None
    return {assertion.statement for assertion in found or []}


def _blob(root: Path, commit: str, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        data = run_git(root, "cat-file", "blob", f"{commit}:{path}")
    except GitError:
        return None
    return data.decode("utf-8", "replace")


def run_git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """git's output in `root`; GitError with git's own message when it fails (its ``fatal:``
    or ``error:`` line, not a hint after it: dubious ownership ends with a command)."""
    command = ["git", "-C", str(root), "-c", "core.quotepath=off", *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git {args[0]}: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        said = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines[-1:]
        raise GitError(f"git {args[0]}: {said[0] if said else f'exit {done.returncode}'}")
    return done.stdout
