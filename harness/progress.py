"""Progress bars (rich) on stderr, so ``--json`` output on stdout stays clean.

>>> with progress_bar("encoding", total=3) as advance:
...     for _ in range(3):
...         advance(1)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True, soft_wrap=True)


def _disabled() -> bool:
    return os.environ.get("HARNESS_NO_PROGRESS", "") not in ("", "0") or not sys.stderr.isatty()


@contextmanager
def progress_bar(
    description: str, total: int | None = None, *, unit: str = ""
) -> Iterator[Callable[..., None]]:
    """A bar that lives for the `with` block; yields ``advance(n=1, **fields)``.

    Off a terminal (CI, pipes) it prints one line when done instead of a bar.
    """
    if _disabled():
        done = 0

        def count(n: int = 1, **_: object) -> None:
            nonlocal done
            done += n

        yield count
        if total:
            print(f"{description}: {done}/{total}{' ' + unit if unit else ''}", file=sys.stderr)
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=_console, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")

        def advance(n: int = 1, **fields: object) -> None:
            status = " ".join(f"{k}={v}" for k, v in fields.items())
            progress.update(task, advance=n, status=status)

        yield advance


def console() -> Console:
    """The stderr console that bars and notes are written to."""
    return _console
