"""The repositories task ``rc`` mines: where they are, and their test files.

Offline default (no ``--data-dir``): every installed package that ships its
tests is one repository:

- ``cpython``: the standard library's test files (its ``test`` package and
  the other ``test``/``tests`` folders of the stdlib; ``site-packages`` aside);
- one repository per top-level folder of site-packages (``numpy``,
  ``scipy``, ``pandas``, ...) that holds test files; the first site folder on
  ``sys.path`` order wins a name; metadata folders (``*.dist-info``), hidden
  ones and stray top-level ``test``/``tests`` packages are skipped.

``--data-dir PATH`` (``layout``): ``auto`` decides by ``.git``: PATH is one
repository when it contains ``.git``, a folder of repositories (each
non-hidden subfolder one, named after it) when any of its subfolders
contains ``.git``, and one repository (a plain source tree) otherwise.
``one`` and ``many`` force either reading. A git repository lists its
tracked files (``git ls-files``); other trees every regular file (no FIFO,
socket or device: ``harness.tree``), hidden folders and build output
(``node_modules``, ``build``, ``dist``, virtual environments) aside. A test
file or repository name that is not UTF-8 is refused, named.

A folder with ``.git`` whose history git cannot read (a damaged ``.git``,
git's "dubious ownership" refusal, no git installed) is read as a plain tree
with ``git_error`` saying why, git's own message; the miner records it and
warns (``completion_mining``). So is one whose ``.git`` git does not take for
a repository and reads an enclosing checkout instead.

A repository's ``version`` changes when its test files do: a fingerprint of
their paths, sizes and modification times (plus ``HEAD`` for git); it goes
into the cache key.
"""

from __future__ import annotations

import site
import sysconfig
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.plugins.local_dataset.assertions import is_test_path
from harness.plugins.local_dataset.git_history import GitError, run_git
from harness.plugins.local_dataset.sources import _fingerprint, python_version
from harness.tree import check_name, regular_files

LAYOUTS = ("auto", "one", "many")
SKIPPED = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "venv", "site-packages", "dist-packages"}
)
NOT_PACKAGES = frozenset({"test", "tests", "testing", "__pycache__", "bin", "share", "include"})


@dataclass(frozen=True)
class Repository:
    """One repository: its name (the partition name), its folder and its test files."""

    name: str
    root: Path
    files: tuple[str, ...]  # test files, posix paths relative to root, sorted
    version: str
    git: bool = False
    git_error: str | None = None  # why git could not read a folder with .git (then git=False)

    def describe(self) -> dict[str, object]:
        """What the cache key and the dataset meta record about this repository."""
        return {
            "name": self.name,
            "root": str(self.root),
            "version": self.version,
            "git": self.git,
            "test_files": len(self.files),
        }


def default_repositories() -> list[Repository]:
    """The standard library's tests (``cpython``) and each site-packages package with tests."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = {"cpython": walked("cpython", stdlib, extra=python_version())}
    for folder in site_folders():
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            if child.name in found or not _is_package_folder(child):
                continue
            found[child.name] = walked(child.name, child)
    return [repo for repo in found.values() if repo.files]


def site_folders() -> list[Path]:
    """The site-packages folders of this interpreter, in ``sys.path`` order, deduplicated."""
    paths = sysconfig.get_paths()
    listed = [paths["purelib"], paths["platlib"], *getattr(site, "getsitepackages", list)()]
    folders: list[Path] = []
    for path in listed:
        folder = Path(path)
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in folders]:
            folders.append(folder)
    return folders


def repositories_in(data_dir: Path, layout: str = "auto") -> list[Repository]:
    """The repositories under a user's folder (``--data-dir``), read as `layout` says."""
    root = Path(data_dir).resolve()
    if not root.is_dir():
        raise HarnessError(f"{data_dir}: not a folder (--data-dir of the local dataset, task rc)")
    if layout not in LAYOUTS:
        raise HarnessError(
            f"dataset local: option layout must be one of {', '.join(LAYOUTS)}, not {layout!r}"
        )
    subfolders = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if layout == "auto":
        many = not (root / ".git").exists() and any((p / ".git").exists() for p in subfolders)
        layout = "many" if many else "one"
    folders = subfolders if layout == "many" else [root]
    repos = [repo for repo in map(repository, folders) if repo.files]
    for repo in repos:  # its name names a partition, stored in UTF-8 files: text or refused
        check_name(repo.root.parent, repo.name)
    return repos


def repository(folder: Path) -> Repository:
    """One folder as a repository: a git checkout's tracked test files, or every test file."""
    folder = folder.resolve()
    if not (folder / ".git").exists():
        return walked(folder.name, folder)
    try:
        top, head = _git(folder, "rev-parse", "--show-toplevel", "HEAD").splitlines()[:2]
        if Path(top).resolve() != folder:  # a broken .git: git went up to a checkout above
            raise GitError(f"git rev-parse: {folder}/.git is no repository to git; it read {top}")
        listed = _git(folder, "ls-files", "-z")
    except GitError as exc:  # kept, never silent: the miner records it and warns
        return replace(walked(folder.name, folder), git_error=str(exc))
    tracked = [p for p in listed.split("\0") if p and is_test_path(p)]
    files = tuple(sorted(check_name(folder, p) for p in tracked))
    version = f"git-{head.strip()}-{_fingerprint(folder, files)}"
    return Repository(folder.name, folder, files, version, git=True)


def walked(name: str, root: Path, *, extra: str = "") -> Repository:
    """Every test file under `root`, hidden and build folders aside."""
    listed = tuple(regular_files(root, keep_dir=kept_folder, keep_file=is_test_path))
    version = _fingerprint(root, listed) + (f"-{extra}" if extra else "")
    return Repository(name, root, listed, version)


def kept_folder(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED


def _is_package_folder(path: Path) -> bool:
    name = path.name
    return (
        path.is_dir()
        and not name.startswith(".")
        and "." not in name
        and "-" not in name
        and name not in NOT_PACKAGES
    )


def _git(folder: Path, *args: str) -> str:
    # surrogateescape: a file name that is not UTF-8 stays its name, refused if it is read
    return run_git(folder, *args).decode("utf-8", "surrogateescape")
