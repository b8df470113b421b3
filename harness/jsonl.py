"""Reading JSON lines: every error names its file and line."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from harness.errors import InputError
from harness.tree import open_regular


def open_bytes(path: Path) -> IO[bytes]:
    """A binary handle on `path`, gunzipped when it ends in ``.gz``; a FIFO, socket or
    device is refused (an OSError) instead of blocking the read."""
    handle = open_regular(path)
    if str(path).endswith(".gz"):
        handle.close()  # checked: gzip opens (and later closes) the file itself
        return cast(IO[bytes], gzip.open(path, "rb"))
    return handle


def decoded(data: bytes, path: Path, first_line: int = 1) -> str:
    """`data` as UTF-8; bytes that are not name their line and column.

    >>> decoded(b"ok\\n\\xff", Path("f.txt"))
    Traceback (most recent call last):
    ...
    harness.errors.InputError: f.txt:2: not UTF-8: byte 0xff at column 1
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}", path=path, line=line
        ) from None


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, text)`` for each line of a text file (gzipped or not), decoded one by one,
    so a bad byte or a truncated archive names where it is."""
    try:
        with open_bytes(path) as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, decoded(raw, path, number)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a damaged gzip stream
        raise InputError(f"cannot read: {exc}", path=path) from None


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each non-blank line of a jsonl(.gz) file."""
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", path=path, line=number) from None
        except RecursionError:
            raise InputError("JSON nested too deeply", path=path, line=number) from None
        if not isinstance(record, dict):
            raise InputError("not a JSON object", path=path, line=number)
        if "\\u" in line:  # an escaped lone surrogate is no text a tokenizer can take
            check_text(record, path, number)
        yield number, record


def check_text(value: Any, path: Path, line: int | None = None) -> None:
    """Refuse strings in `value` that are not Unicode text (a lone surrogate such as the
    JSON escape ``\\ud800``): tokenizers reject them with a traceback deep inside."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
        raise InputError(f"a string holds {bad}, which is not text", path=path, line=line) from None
