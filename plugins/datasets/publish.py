"""Publishing a whole folder at once: readers see all of it or none of it.

``harness.atomic`` replaces files; a mined dataset is a folder of files that
only make sense together (its ``meta.json`` says what the rest is), so it is
filled under a temporary name beside its place and renamed there in one step.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def publish_folder(folder: Path, fill: Callable[[Path], object], marker: str = "meta.json") -> None:
    """Call ``fill(temporary)``, then rename the temporary folder to `folder`.

    A `folder` that already has its `marker` file is kept: another process
    published the same data first (its name is a hash of what determines it).
    One without it is a crash's leftover, no dataset, and is replaced.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.parent / f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        temporary.mkdir()
        fill(temporary)
        if folder.exists() and not (folder / marker).is_file():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    except OSError:
        if not (folder / marker).is_file():
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
