"""Publishing a whole folder atomically: readers see the old folder or the new one.

`harness.atomic` replaces files; an adapter, a checkpoint, an index or a
pretrained model is a folder of files that only make sense together. The
folder is written beside its final place under a hidden name and renamed
into place only when the block that writes it has finished, so a process
killed halfway leaves the old folder (or none) and a hidden leftover that
the next publish of the same folder removes.

>>> with publishing(cache / "index" / key) as folder:  # doctest: +SKIP
...     np.save(folder / "embeddings.npy", embeddings)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def publishing(final: Path, temporary: Path | None = None) -> Iterator[Path]:
    """An empty folder to fill (`temporary`, default ``.<name>.tmp`` beside `final`) that
    replaces `final` when the block ends without an error; on an error `final` is left as
    it was. Either way the temporary folder is gone afterwards."""
    temporary = temporary or final.with_name(f".{final.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
