"""Which source trees are mined, and which of their files.

Default sources, each a ``Source`` whose ``repo`` names the pairs it gives:

- ``stdlib``: the Python standard library (``sysconfig`` ``stdlib``), ``.py``;
- one source per installed distribution (``importlib.metadata``; repo = its
  name), the ``.py`` and C/C++ files its ``RECORD`` lists (numpy's and
  torch's headers come from here);
- ``python-include``: the C headers of this Python (``sysconfig`` ``include``);
- ``usr-include``: ``/usr/include``, when present.

A user tree (``data_dir``) replaces them: a git checkout contributes its
tracked files (``git ls-files``), any other folder every regular file under it
except hidden folders and build output (a FIFO, socket or device is never listed,
nor read: ``harness.tree``). A file name that is not UTF-8 is refused, named.

Files never mined: suffixes of no language in ``languages`` (so ``.pyi``
stubs are not); test code (a folder named ``test``, ``tests``, ``testing``,
``idle_test`` or ``__pycache__`` on the path, or a file named like a test,
``languages.is_test_file``); the standard library's ``site-packages``. Files
over the size limit are skipped when read. Which of the listed files are read
depends on the languages asked for (``mining``).

A source's ``version`` is what changes when its files do: the Python version,
the distribution's version, or a fingerprint of a tree's listing (paths, sizes,
modification times). It goes into the cache key.
"""

from __future__ import annotations

import csv
import hashlib
import platform
import re
import subprocess
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.plugins.local_dataset.languages import candidate_languages, is_test_file
from harness.tree import check_name, regular_files

SKIPPED_DIRS = frozenset(
    {"test", "tests", "testing", "idle_test", "__pycache__", "site-packages", "dist-packages"}
)
SKIPPED_TREE_DIRS = frozenset({"node_modules", "build", "dist", ".venv", "venv", "vendor"})


@dataclass(frozen=True)
class Source:
    """One tree of files to mine: its name in pair ids, where it is, and its version."""

    repo: str
    root: Path
    version: str
    files: tuple[str, ...]  # posix paths relative to root, sorted

    def describe(self) -> dict[str, object]:
        """What the cache key and the dataset meta record about this source."""
        return {
            "repo": self.repo,
            "root": str(self.root),
            "version": self.version,
            "files": len(self.files),
        }


def is_minable(path: str) -> bool:
    """True for a file in a language the miners know that is not test code.

    >>> [is_minable(p) for p in ("json/decoder.py", "tests/test_x.py", "a/util_test.py")]
    [True, False, False]
    >>> [is_minable(p) for p in ("include/object.h", "x.pyi", "README.md", "cmd/main.go")]
    [True, False, False, True]
    """
    parts = path.split("/")
    if any(part in SKIPPED_DIRS for part in parts[:-1]):
        return False
    return bool(candidate_languages(parts[-1])) and not is_test_file(parts[-1])


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def default_sources() -> list[Source]:
    """The standard library, the installed distributions and the system headers."""
    paths = sysconfig.get_paths()
    sources = [_walked("stdlib", Path(paths["stdlib"]), version=python_version())]
    sources += distribution_sources()
    sources.append(_walked("python-include", Path(paths["include"]), version=python_version()))
    if Path("/usr/include").is_dir():
        sources.append(_walked("usr-include", Path("/usr/include")))
    return [source for source in sources if source.files]


def distribution_sources() -> list[Source]:
    """One source per installed distribution, first on ``sys.path`` wins a name."""
    found: dict[str, Source] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        key = re.sub(r"[-_.]+", "-", name).lower()
        listed = _record_paths(dist)
        if not key or key in found or listed is None:
            continue
        files = sorted({p for p in listed if not p.startswith("../") and is_minable(p)})
        found[key] = Source(name, Path(str(dist.locate_file(""))), dist.version, tuple(files))
    return [found[key] for key in sorted(found)]


def _record_paths(dist: metadata.Distribution) -> list[str] | None:
    """The paths a distribution installed; RECORD read directly (``dist.files`` is slow)."""
    record = dist.read_text("RECORD")
    if record is None:
        files = dist.files
        return None if files is None else [Path(str(f)).as_posix() for f in files]
    return [row[0] for row in csv.reader(record.splitlines()) if row]


def tree_source(root: Path) -> Source:
    """A user's tree: a git checkout's tracked files, or every file of a folder."""
    root = root.resolve()
    if not root.is_dir():
        from harness.errors import HarnessError

        raise HarnessError(f"{root}: not a folder to mine (data_dir of the local dataset)")
    listed = _git_files(root) if (root / ".git").exists() else None
    if listed is None:
        return _walked(root.name, root, skip=SKIPPED_TREE_DIRS)
    files = tuple(sorted(check_name(root, path) for path in listed if is_minable(path)))
    return Source(root.name, root, _fingerprint(root, files), files)


def _git_files(root: Path) -> list[str] | None:
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # surrogateescape: a name that is not UTF-8 stays the file's name, refused if mined
    return [name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name]


def _walked(
    repo: str, root: Path, *, version: str | None = None, skip: frozenset[str] = frozenset()
) -> Source:
    listed = tuple(
        regular_files(
            root,
            keep_dir=lambda d: not d.startswith(".") and d not in SKIPPED_DIRS and d not in skip,
            keep_file=is_minable,
        )
    )
    return Source(repo, root, version or _fingerprint(root, listed), listed)


def _fingerprint(root: Path, files: tuple[str, ...]) -> str:
    """A hash of the listing: paths, sizes and modification times."""
    digest = hashlib.sha256()
    for path in files:
        try:
            stat = (root / path).stat()
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "listing-" + digest.hexdigest()[:16]
