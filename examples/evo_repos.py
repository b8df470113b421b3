"""Build the folder of repositories the Code2LoRA Evo run reads (docs/hypernet.md, "Evo here").

    python examples/evo_repos.py OUT [--harness-repo PATH] [--min-assertions 20]
    harness run --model tiny-code-lm --task rc --data-dir OUT --seed 7 ...

OUT then holds, one folder per repository (``--data-dir`` layout ``many``):

- ``OUT/<name>`` for each repository of the ``local`` dataset's offline default for task
  rc (``repositories.default_repositories``: the standard library as ``cpython`` and each
  site-packages package that ships tests) in which the rc miner keeps at least N
  assertions. The count is the miner's own (``completion_mining``, the dataset's default
  settings with ``min_per_repo`` N): the assertions of the test files it reads, duplicates
  of another repository's dropped. Each is copied as a plain source tree: its Python
  files, in the folders the dataset walks (hidden and build folders aside), which is all
  that task rc reads from a repository (the miner, answer sources, rag, the hypernetworks'
  reader);
- ``OUT/harness``: a ``git clone`` (full history) of the harness checkout this script is
  in, or of ``--harness-repo``; its evolution track is its last ``max_commits`` (50)
  first-parent commits. It is kept whatever its count.

Each repository is written into a hidden temporary folder beside its place and renamed
when whole (``harness.atomic.publishing``): a rerun skips the folders that are there and
redoes what an interrupted run left unfinished. Delete ``OUT/<name>`` to rebuild one (or
``OUT/harness`` to clone newer commits). Counting mines the whole default set on every
run, so that duplicates across repositories count as in the dataset: the first build here
took 94 s of CPU (2,004 test files mined, 11,054 files copied), a rerun the mining alone.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from harness import atomic
from harness.errors import HarnessError
from harness.plugins.local_dataset.completion_mining import RepoReport, mine_completion
from harness.plugins.local_dataset.completion_settings import CompletionSettings
from harness.plugins.local_dataset.repositories import (
    Repository,
    default_repositories,
    kept_folder,
    repository,
)
from harness.progress import progress_bar
from harness.tree import regular_files

CLONE = "harness"  # the clone's folder name: the Evo run evaluates it (--languages harness)
HERE = Path(__file__).resolve().parents[1]  # the checkout this script is in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the folder of repositories of the Evo run.")
    parser.add_argument("out", type=Path, metavar="OUT", help="the folder to fill")
    parser.add_argument("--harness-repo", type=Path, default=HERE, help=f"default: {HERE}")
    parser.add_argument("--min-assertions", type=int, default=20, metavar="N")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.harness_repo, args.min_assertions)
    except HarnessError as exc:
        print(f"evo_repos: error: {exc}", file=sys.stderr)
        return 2
    return 0


def build(out: Path, source: Path, minimum: int) -> None:
    """Fill `out` as the module doc says; bad input raises HarnessError before any work."""
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{out}: exists and is not a folder")
    if minimum < 1:
        raise HarnessError(f"--min-assertions must be at least 1, not {minimum}")
    top = git(source, "rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != source.resolve():
        raise HarnessError(f"--harness-repo {source}: not a git repository (its top folder)")
    if git(source, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        raise HarnessError(f"--harness-repo {source}: has no commits")
    atomic.check_writable(out, "OUT")
    out.mkdir(parents=True, exist_ok=True)

    clone = out / CLONE
    cloned = not clone.exists()
    if cloned:
        with atomic.publishing(clone) as temporary:
            if git(None, "clone", "--quiet", str(source.resolve()), str(temporary)) is None:
                raise HarnessError(f"git clone {source} failed")
    packages = [repo for repo in default_repositories() if repo.name != CLONE]
    settings = CompletionSettings(min_per_repo=minimum, max_commits=0)  # counts: no history
    reports = mine_completion([*packages, repository(clone)], settings).reports
    kept = [repo for repo in packages if reports[repo.name].left_out is None]
    copied = copy_sources(kept, out)

    for repo in packages:
        count = found(reports[repo.name])
        if repo in kept:
            state = "copied" if repo.name in copied else "already there"
            print(f"{repo.name}: {python_files(out / repo.name):,} files, {count:,} assertions "
                  f"({state})")  # fmt: skip
        else:
            stale = "; delete the copy of an earlier run" if (out / repo.name).exists() else ""
            print(f"{repo.name}: {count:,} assertions, fewer than {minimum}: left out{stale}")
    commits = int(git(clone, "rev-list", "--first-parent", "--count", "HEAD") or 0)
    state = f"cloned from {source}" if cloned else "already there"
    print(f"{CLONE}: {python_files(clone):,} files, {found(reports[CLONE]):,} assertions, "
          f"{commits} first-parent commits ({state})")  # fmt: skip
    print(f"{out}: {len(kept)} repositories and {CLONE}; harness run --task rc --data-dir {out}")


def copy_sources(repos: list[Repository], out: Path) -> set[str]:
    """Copy each repository's Python files to ``out/<name>`` unless it is there; the copied."""
    todo = {
        repo.name: regular_files(repo.root, keep_dir=kept_folder, keep_file=is_python)
        for repo in repos
        if not (out / repo.name).exists()
    }
    total = sum(len(files) for files in todo.values())
    with progress_bar("evo: copying sources", total=total, unit="files") as advance:
        for repo in repos:
            if repo.name not in todo:
                continue
            with atomic.publishing(out / repo.name) as temporary:
                for relative in todo[repo.name]:
                    (temporary / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(repo.root / relative, temporary / relative)
                    advance(1, repo=repo.name)
    return set(todo)


def found(report: RepoReport) -> int:
    """The assertions the miner keeps before its per-repository cap (``min_per_repo`` counts
    these): those of the test files it read, less the duplicates of earlier ones."""
    return report.assertions - report.duplicates


def is_python(relative: str) -> bool:
    return relative.endswith(".py")


def python_files(root: Path) -> int:
    return len(regular_files(root, keep_dir=kept_folder, keep_file=is_python))


def git(folder: Path | None, *args: str) -> str | None:
    """Git's output, or None when it fails (not a repository, no git)."""
    where = ["-C", str(folder)] if folder is not None else []
    try:
        done = subprocess.run(["git", *where, *args], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


if __name__ == "__main__":
    sys.exit(main())
