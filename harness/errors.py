"""Errors that end a command with a one-line message and exit code 2."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or a bad request: the CLI prints the message on one line and exits 2."""

    exit_code = 2


class InputError(HarnessError):
    """A file, line or field is wrong; the message names where and what.

    >>> str(InputError("bad JSON", path="data/test.jsonl", line=3))
    'data/test.jsonl:3: bad JSON'
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line
