"""Files that are not what they claim to be: one line naming the file (and line), never a
traceback (issue 17). A table: file name, bytes, the message expected."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.jsonl import jsonl_rows

GOOD = gzip.compress(b'{"a": 1}\n' * 200)
DEEP = b"[" * 10**5 + b"]" * 10**5
CASES = [
    ("truncated.jsonl.gz", GOOD[: len(GOOD) // 2], "cannot read"),
    ("corrupt.jsonl.gz", GOOD[:20] + b"\x00" * 40 + GOOD[60:], "cannot read"),
    ("not-gzip.jsonl.gz", b'{"a": 1}\n', "cannot read"),
    ("deep.jsonl", b'{"a": ' + DEEP + b"}\n", ":1: JSON nested too deeply"),
    ("latin1.jsonl", b'{"a": "caf\xe9"}\n', ":1: not UTF-8: byte 0xe9 at column 11"),
    ("list.jsonl", b'{"a": 1}\n[1, 2]\n', ":2: not a JSON object"),
    ("broken.jsonl", b'{"a": 1}\n{"a": \n', ":2: not JSON"),
    ("surrogate.jsonl", b'{"a": "ok \\ud83d\\ude00"}\n{"a": "x\\ud800y"}\n',
     ":2: a string holds \\ud800, which is not text"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_jsonl_file_is_one_line_naming_it(tmp_path: Path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        list(jsonl_rows(path))
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
