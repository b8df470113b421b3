"""Reading JSON lines: every error names its file and line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from harness.errors import InputError


def open_text(path: Path) -> IO[str]:
    """A text handle on `path`, gunzipped when it ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each non-blank line of a jsonl(.gz) file."""
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not JSON: {exc.msg}", path=path, line=number) from None
                if not isinstance(record, dict):
                    raise InputError("not a JSON object", path=path, line=number)
                yield number, record
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
