"""Progress bars (rich) on stderr, so ``--json`` output on stdout stays clean.

>>> with progress_bar("encoding", total=3) as advance:
...     for _ in range(3):
...         advance(1)

Inside ``overall_bar`` (a matrix of runs) every bar joins its display, below
the overall one, and is removed when its block ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

_console = Console(stderr=True, soft_wrap=True)
_overall: Progress | None = None  # the display of a running overall_bar


class _Remaining(TimeRemainingColumn):
    """Rich's estimate, or the task's own ``eta`` field when it sets one."""

    def render(self, task: Task) -> Text:
        if task.fields.get("eta"):
            return Text(str(task.fields["eta"]), style="progress.remaining")
        return super().render(task)


def _columns() -> list[Any]:
    return [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        _Remaining(),
    ]


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
    if _overall is not None:
        shared = _overall
        inner = shared.add_task(description, total=total, status="")

        def advance_inner(n: int = 1, **fields: object) -> None:
            status = " ".join(f"{k}={v}" for k, v in fields.items())
            shared.update(inner, advance=n, status=status)

        try:
            yield advance_inner
        finally:
            shared.remove_task(inner)
        return
    with Progress(*_columns(), console=_console, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")

        def advance(n: int = 1, **fields: object) -> None:
            status = " ".join(f"{k}={v}" for k, v in fields.items())
            progress.update(task, advance=n, status=status)

        yield advance


@contextmanager
def overall_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """One bar above all others while the block runs; yields ``update(completed, **fields)``
    (``status=``, ``eta=`` text). Off a terminal it does nothing: the caller prints lines."""
    global _overall
    if _disabled():
        yield lambda *_, **__: None
        return
    with Progress(*_columns(), console=_console, transient=False) as progress:
        task = progress.add_task(description, total=total, status="", eta="")

        def update(completed: int, **fields: Any) -> None:
            progress.update(task, completed=completed, **fields)

        _overall = progress
        try:
            yield update
        finally:
            _overall = None


def console() -> Console:
    """The stderr console that bars and notes are written to."""
    return _console
