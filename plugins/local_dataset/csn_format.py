"""Mined pairs as CodeSearchNet jsonl records, and back.

Fields, in this order: ``repo, path, func_name, original_string, language,
code, code_tokens, docstring, docstring_tokens, url, partition``, where

- ``docstring`` is the query (the doc's first paragraph, whitespace-normalised;
  the whole doc is still in ``original_string``), as CodeSearchNet's
  ``docstring_tokens`` are of the first paragraph only;
- ``code`` is the function without its docstring or doc comment, while
  ``original_string`` keeps it;
- ``*_tokens`` are word and punctuation tokens (``pairs.tokens``);
- ``url`` is ``local://<repo>/<path>#L<line>``, unique in a dataset;
- ``partition`` is ``train``, ``valid`` or ``test``.

>>> from harness.plugins.local_dataset.pairs import Pair
>>> pair = Pair("stdlib", "a.py", 3, "f", "python", "Do a thing well.", "def f():", "def f():")
>>> from_record(to_record(pair, "test")) == pair
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.jsonl import jsonl_rows
from harness.plugins.local_dataset.pairs import Pair, tokens

FIELDS = (
    "repo",
    "path",
    "func_name",
    "original_string",
    "language",
    "code",
    "code_tokens",
    "docstring",
    "docstring_tokens",
    "url",
    "partition",
)
_LINE = re.compile(r"#L(\d+)$")


def to_record(pair: Pair, partition: str) -> dict[str, Any]:
    """The CodeSearchNet record of one pair."""
    return {
        "repo": pair.repo,
        "path": pair.path,
        "func_name": pair.func_name,
        "original_string": pair.original_string,
        "language": pair.language,
        "code": pair.code,
        "code_tokens": tokens(pair.code),
        "docstring": pair.query,
        "docstring_tokens": tokens(pair.query),
        "url": pair.url,
        "partition": partition,
    }


def from_record(record: dict[str, Any]) -> Pair:
    """The pair a record was written from (the line is read back from the url)."""
    match = _LINE.search(record["url"])
    return Pair(
        repo=record["repo"],
        path=record["path"],
        line=int(match.group(1)) if match else 0,
        func_name=record["func_name"],
        language=record["language"],
        query=record["docstring"],
        code=record["code"],
        original_string=record["original_string"],
    )


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line (UTF-8, ``\\n``); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a jsonl file; a bad line raises ``InputError`` naming file and line."""
    records = []
    for number, record in jsonl_rows(path):
        missing = [name for name in FIELDS if name not in record]
        if missing:
            raise InputError(f"missing fields {', '.join(missing)}", path=path, line=number)
        records.append(record)
    return records
