"""Atomic file writes: a file is replaced whole or not at all.

Data goes to a temporary file beside the target, is flushed to disk, gets the
permissions a plain ``open`` would give it (the process's umask; ``mkstemp`` alone
makes 0600 files that other users of a shared store cannot read), and is then
renamed over the target. `replace_together` stages every file first and renames
only when all are written, so a full disk leaves every old file as it was.
`publishing` does the same for a whole folder (an adapter, a checkpoint, an index, a
mined dataset: files that only make sense together).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def stage(path: Path, data: bytes | str) -> Path:
    """`data` in a temporary file beside `path` (its folder is created), on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _MODE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write(path: Path, data: bytes | str) -> None:
    """Replace `path` by `data` atomically."""
    replace_together([(path, data)])


def replace_together(files: Sequence[tuple[Path, bytes | str]]) -> None:
    """Stage every file, then rename them in order; on any failure none is renamed
    before it and the temporary files are removed."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            staged.append((stage(path, data), path))
        while staged:
            tmp, path = staged[0]
            os.replace(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def check_writable(folder: Path, what: str) -> None:
    """Raise a one-line HarnessError unless files can be created in `folder`, or in the
    nearest folder above it that exists (where it would be made). Checked before any work,
    so an unwritable output never costs a whole run; nothing is left behind."""
    from harness.errors import HarnessError

    existing = Path(folder).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder")
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = "" if existing == Path(folder).expanduser().absolute() else f" ({existing})"
        raise HarnessError(f"{what} {folder} cannot be written{where}: {reason}") from None


@contextlib.contextmanager
def publishing(
    final: Path, temporary: Path | None = None, keep: str | None = None
) -> Iterator[Path]:
    """An empty folder to fill, renamed to `final` when the block ends without an error;
    on an error `final` is left as it was, and the temporary folder is gone either way.

    `temporary` defaults to ``.<name>.tmp`` beside `final` (a killed run's leftover is
    removed by the next publish of that folder). With `keep`, a marker file's name, the
    folder is content-addressed and may be published by several processes at once: each
    fills its own temporary folder, and a `final` that holds the marker (another process
    won) is kept; one without it is a crash's leftover and is replaced."""
    if temporary is None:
        unique = f".{os.getpid()}.{uuid.uuid4().hex[:8]}" if keep else ""
        temporary = final.with_name(f".{final.name}{unique}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if keep and (final / keep).is_file():
            return
        if final.exists():
            shutil.rmtree(final)
        try:
            os.replace(temporary, final)
        except OSError:
            if not (keep and (final / keep).is_file()):  # lost a race to the same content
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
