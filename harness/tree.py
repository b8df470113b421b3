"""Reading a user's tree: regular files only, names that are text.

A FIFO, a socket or a device in a ``--data-dir`` tree is no source file: opening
a FIFO to read it blocks until something writes to it (forever, in a miner), and
a device such as ``/dev/zero`` never ends. So a walk lists regular files only
(``regular_files``), and every read opens without blocking and refuses what is
not a regular file (``open_regular``): a symlink to a FIFO, or a file replaced
by one after the walk, is refused at the read.

A name that is not UTF-8 cannot be stored in the UTF-8 files a dataset is cached
in, nor printed; it is refused with the name shown escaped (``check_name``), so
the user can rename it, rather than mined under a replaced name or skipped silently.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from harness.errors import InputError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


class NotRegularFile(OSError):
    """A path that names something other than a regular file (an OSError, so the
    callers that count unreadable files count it too)."""


def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``"a FIFO"``, ``"a regular file"``, ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file (symlinks followed);
    NotRegularFile otherwise. The open never blocks, even on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"not a regular file: {kind_of(mode)}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file `path` (NotRegularFile for anything else)."""
    with open_regular(path) as handle:
        return handle.read()


def read_regular_text(path: str | os.PathLike[str], errors: str = "strict") -> str:
    """`path` read as UTF-8 text exactly as ``Path.read_text`` reads it (universal
    newlines), but only if it is a regular file."""
    with io.TextIOWrapper(open_regular(path), encoding="utf-8", errors=errors) as handle:
        return handle.read()


def is_regular(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a regular file, symlinks followed (a broken one is not)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def shown(path: str | os.PathLike[str]) -> str:
    r"""`path` printable: bytes that are not UTF-8 written as ``\xff``.

    >>> shown(os.fsdecode(b"caf\xe9.py"))
    'caf\\xe9.py'
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_name(root: Path, relative: str) -> str:
    r"""`relative` (a path under `root`), if its name is UTF-8; InputError naming it if not.

    >>> check_name(Path("/d"), os.fsdecode(b"caf\xe9.py"))
    Traceback (most recent call last):
    ...
    harness.errors.InputError: /d/caf\xe9.py: the name is not UTF-8 (byte 0xe9); rename it
    """
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = os.fsencode(relative[exc.start : exc.start + 1])[0]
        raise InputError(
            f"the name is not UTF-8 (byte 0x{byte:02x}); rename it",
            path=shown(os.path.join(root, relative)),
        ) from None
    return relative


def regular_files(
    root: Path,
    *,
    keep_dir: Callable[[str], bool] = lambda name: True,
    keep_file: Callable[[str], bool] = lambda path: True,
) -> list[str]:
    """Posix paths, relative to `root` and sorted, of the regular files under `root`
    that `keep_file` accepts (given the relative path), in the folders `keep_dir`
    accepts (given a folder's name). A kept name that is not UTF-8 is an InputError."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if keep_dir(d))
        relative = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in names:
            path = prefix + name
            if keep_file(path) and is_regular(os.path.join(folder, name)):
                found.append(check_name(root, path))
    return sorted(found)
