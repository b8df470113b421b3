"""Malformed input, through `harness run` (in process): one line, exit code 2, nothing written.

Tables of cases. A dataset case names a valid tree (``TREES``), the files it
replaces there (path -> content: text, bytes, a parquet table, a FIFO, or
``REMOVED``), the run's extra flags, and the pieces the error line must hold
(``{root}`` stands for the data folder). Each case checks the three promises of
the CLI: stderr holds exactly one line, ``harness: error: ...``, naming the file
and line (or the name or field) and what is wrong; the exit code is 2; the
result store holds no file afterwards. A case with a FIFO also checks that no
reader ever blocked on it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.plugin_manager import plugins
from harness.strategy import Strategy

# --- valid inputs -------------------------------------------------------------------------------


def csn_record(n: int) -> dict[str, Any]:
    return {
        "repo": "owner/repo",
        "path": f"pkg/m{n}.py",
        "func_name": f"f{n}",
        "original_string": f"def f{n}(x):\n    return x + {n}",
        "language": "python",
        "code": f"def f{n}(x):\n    return x + {n}",
        "code_tokens": ["def", f"f{n}", "(", "x", ")", ":", "return", "x", "+", str(n)],
        "docstring": f"Add {n} to x.",
        "docstring_tokens": ["Add", str(n), "to", "x", "."],
        "url": f"https://example.org/owner/repo/pkg/m{n}.py#L1",
        "partition": "test",
    }


def lines(rows: list[Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


COSQA_CODES = ["def add(a, b):\n    return a + b", "def neg(x):\n    return -x"]


def cosqa_record(idx: str, code_index: int, **changes: Any) -> dict[str, Any]:
    code = COSQA_CODES[code_index]
    record = {
        "idx": idx,
        "doc": f"query {idx}",
        "code": code,
        "code_tokens": code.split(),
        "docstring_tokens": ["query"],
        "label": 1,
        "retrieval_idx": code_index,
    }
    record.update(changes)
    return record


def cosqa_list(rows: list[dict[str, Any]]) -> str:
    return "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"


def xlcost_row(idx: str, word: str) -> dict[str, Any]:
    return {"idx": idx, "docstring_tokens": [word], "code_tokens": ["int", word]}


EXAMPLE_COLUMNS = ("repo_id", "commit_index", "prefix", "target", "cross_repo_split",
                   "in_repo_split", "test_file")  # fmt: skip


def assertion(repo: str, cross: str, n: int, **changes: Any) -> dict[str, Any]:
    row = {"repo_id": repo, "commit_index": None, "prefix": f"assert f({n}) == ",
           "target": str(n), "cross_repo_split": cross, "in_repo_split": "train",
           "test_file": "tests/test_f.py"}  # fmt: skip
    row.update(changes)
    return row


@dataclass(frozen=True)
class Parquet:
    """A parquet file's content: rows, with the column types given (strings by default;
    bytes in a string column are stored unchecked, as a writer that skips validation does)."""

    rows: tuple[dict[str, Any], ...]
    types: tuple[tuple[str, str], ...] = ()
    columns: tuple[str, ...] = EXAMPLE_COLUMNS

    def encode(self) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        kinds = {name: pa.string() for name in self.columns} | {"commit_index": pa.int64()}
        kinds |= {name: pa.list_(pa.float32()) if kind == "numbers" else getattr(pa, kind)()
                  for name, kind in self.types}  # fmt: skip
        arrays = {}
        for name, kind in kinds.items():
            values = [row.get(name) for row in self.rows]
            if any(isinstance(v, bytes) for v in values):
                arrays[name] = pa.array(values, pa.binary()).view(pa.string())
            else:
                arrays[name] = pa.array(values, kind)
        buffer = io.BytesIO()
        pq.write_table(pa.table(arrays), buffer)
        return buffer.getvalue()


def examples(*rows: dict[str, Any], **types: str) -> Parquet:
    return Parquet(tuple(rows), tuple(types.items()))


def commits(*rows: tuple[str, int]) -> Parquet:
    embedded = [{"repo_id": r, "commit_index": i, "diff_embedding": None} for r, i in rows]
    return Parquet(
        tuple(embedded),
        (("repo_state_embedding", "numbers"), ("diff_embedding", "numbers")),
        ("repo_id", "commit_index", "repo_state_embedding", "diff_embedding"),
    )


@dataclass(frozen=True)
class Half:
    """The first half of a file's bytes: a truncated copy."""

    whole: Any


FIFO = object()  # a named pipe: opening it to read blocks until something writes
REMOVED = None
Content = Any  # str | bytes | Parquet | Half | FIFO | REMOVED


def encoded(content: Content) -> bytes:
    if isinstance(content, Half):
        whole = encoded(content.whole)
        return whole[: len(whole) // 2]
    if isinstance(content, Parquet):
        return content.encode()
    return content if isinstance(content, bytes) else content.encode()


CODEBASE = json.dumps({code: i for i, code in enumerate(COSQA_CODES)})
CORPUS = lines([{"_id": "d1", "text": "def add(a, b): return a + b"},
                {"_id": "d2", "text": "def neg(x): return -x"}])  # fmt: skip
TREES: dict[str, dict[str, Content]] = {
    # GraphCodeBERT's layout: python/test.jsonl queries against python/codebase.jsonl
    "csn": {
        "python/test.jsonl": lines([csn_record(n) for n in (1, 2, 3)]),
        "python/codebase.jsonl": lines([csn_record(n) for n in (1, 2, 3, 4)]),
    },
    # CoCLR's layout: a JSON list per split (one record a line) and code_idx_map.txt
    "cosqa": {
        "cosqa-retrieval-dev-2.json": cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1)]),
        "code_idx_map.txt": CODEBASE,
    },
    # BEIR's layout: corpus.jsonl, queries.jsonl and qrels/test.tsv
    "coir": {
        "corpus.jsonl": CORPUS,
        "queries.jsonl": lines(
            [{"_id": "q1", "text": "add two numbers"}, {"_id": "q2", "text": "negate"}]
        ),  # fmt: skip
        "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    },
    "xlcost": {},
    "repopeft": {"examples.parquet": examples(assertion("org/a", "cr_test", 1))},
    "local": {},  # the files of the case alone
}
DATASET_FLAGS = {
    "csn": ("--task", "t2c", "--dataset", "csn"),
    "cosqa": ("--task", "t2c", "--dataset", "cosqa", "--split", "dev"),
    "coir": ("--task", "t2c", "--dataset", "coir"),
    "xlcost": ("--task", "c2c", "--dataset", "xlcost", "--languages", "python"),
    "repopeft": ("--task", "rc", "--dataset", "repopeft"),
    "local": (),
}


@dataclass(frozen=True)
class Case:
    """One broken input: a valid tree of `tree` with `files` replaced, run with `args`."""

    id: str
    tree: str
    files: dict[str | bytes, Content]
    expected: tuple[str, ...]
    args: tuple[str, ...] = ()
    notes: int = 0  # lines of progress printed before the error
    model: str = ""  # the model run, when not the dataset's usual one


def case(id: str, tree: str, files: dict[str | bytes, Content], *expected: str, **how: Any) -> Any:
    return pytest.param(Case(id, tree, files, expected, **how), id=id)


def csn_text(rows: list[Any], tail: str = "") -> str:
    return lines(rows) + tail


CSN_GZIP = gzip.compress(lines([csn_record(n) for n in (1, 2, 3)]).encode())
CSN_CASES = [
    case("csn-truncated-json-line", "csn",
         {"python/test.jsonl": csn_text([csn_record(1), csn_record(2)], '{"url": "x", "docstr')},
         "{root}/python/test.jsonl:3: not JSON"),
    case("csn-truncated-gzip", "csn",
         {"python/test.jsonl": REMOVED, "python/test.jsonl.gz": Half(CSN_GZIP)},
         "{root}/python/test.jsonl.gz: cannot read"),
    case("csn-field-of-the-wrong-type", "csn",
         {"python/test.jsonl": lines([csn_record(1),
                                      {**csn_record(2), "docstring_tokens": "Add 2 to x."}])},
         "test.jsonl:2: field 'docstring_tokens' must be a list of strings, not a string"),
    case("csn-line-that-is-not-an-object", "csn",
         {"python/test.jsonl": lines([csn_record(1), ["url", "code"]])},
         "test.jsonl:2: not a JSON object"),
    case("csn-missing-field", "csn",
         {"python/codebase.jsonl": lines([csn_record(1),
                                          {k: v for k, v in csn_record(2).items() if k != "url"}])},
         "codebase.jsonl:2: missing field 'url'"),
    case("csn-duplicate-corpus-id", "csn",
         {"python/codebase.jsonl": lines([csn_record(n) for n in (1, 2, 3, 2)])},
         "codebase.jsonl:4: duplicate corpus id", "first at"),
    case("csn-gold-absent-from-the-corpus", "csn",
         {"python/codebase.jsonl": lines([csn_record(n) for n in (1, 3)])},
         f"test.jsonl:2: gold {csn_record(2)['url']!r}", "is not in codebase.jsonl"),
    case("csn-non-utf8-bytes", "csn",
         {"python/test.jsonl": lines([csn_record(1)]).encode() + b'{"url": "caf\xe9"}\n'},
         "test.jsonl:2: not UTF-8: byte 0xe9 at column 13"),
    case("csn-empty-split", "csn", {"python/test.jsonl": ""},
         "{root}/python/test.jsonl: no queries in the test split"),
    case("csn-empty-query-text", "csn",
         {"python/test.jsonl": lines([csn_record(1), {**csn_record(2), "docstring_tokens": []}])},
         f"test.jsonl:2: query {csn_record(2)['url']!r} has an empty text"),
    case("csn-empty-id", "csn",
         {"python/codebase.jsonl": lines([csn_record(1), {**csn_record(2), "url": ""}])},
         "codebase.jsonl:2: empty corpus id"),
    case("csn-unknown-language", "csn", {},
         "dataset csn: unknown language 'cobol' (known: go, java", args=("--languages", "cobol")),
    case("csn-test-file-is-a-fifo", "csn", {"python/test.jsonl": FIFO},
         "{root}: no language folder has the test split"),
]  # fmt: skip

COSQA_DEV = "cosqa-retrieval-dev-2.json"
COSQA_CASES = [
    case("cosqa-truncated-json-list", "cosqa",
         {COSQA_DEV: TREES["cosqa"][COSQA_DEV][: TREES["cosqa"][COSQA_DEV].index('"q2"') + 10]},
         f"{COSQA_DEV}:3: not JSON"),
    case("cosqa-label-of-the-wrong-type", "cosqa",
         {COSQA_DEV: cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1, label="1")])},
         f"{COSQA_DEV}:3: field 'label' must be an integer, not a string"),
    case("cosqa-missing-field", "cosqa",
         {COSQA_DEV: cosqa_list([cosqa_record("q1", 0),
                                 {k: v for k, v in cosqa_record("q2", 1).items() if k != "doc"}])},
         f"{COSQA_DEV}:3: missing field 'doc'"),
    case("cosqa-duplicate-query-id", "cosqa",
         {COSQA_DEV: cosqa_list([cosqa_record("q1", 0), cosqa_record("q1", 1)])},
         f"{COSQA_DEV}:3: duplicate query id 'q1'"),
    case("cosqa-gold-absent-from-the-codebase", "cosqa",
         {COSQA_DEV: cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1, retrieval_idx=7)])},
         f"{COSQA_DEV}:3: gold '7' of query 'q2' is not in code_idx_map.txt"),
    case("cosqa-codebase-index-that-is-not-an-integer", "cosqa",
         {"code_idx_map.txt":
          '{\n"def add(a, b):\\n    return a + b": 0,\n"def neg(x):\\n    return -x": "1"\n}'},
         "code_idx_map.txt:3: the index of a code must be an integer, not '1'"),
    case("cosqa-unknown-split", "cosqa", {}, "dataset cosqa: unknown split 'tset'",
         args=("--split", "tset")),
    case("cosqa-query-with-a-lone-surrogate", "cosqa",
         {COSQA_DEV: cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1, doc="x\ud800")])},
         f"{COSQA_DEV}:3: a string holds \\ud800, which is not text"),
    case("cosqa-code-with-a-lone-surrogate", "cosqa",
         {"code_idx_map.txt": '{\n"def add(a, b):\\n    return a + b": 0,\n"x = \\udc80": 1\n}'},
         "code_idx_map.txt:3: a string holds \\udc80, which is not text"),
    case("cosqa-split-file-is-a-fifo", "cosqa", {COSQA_DEV: FIFO},
         f"{{root}}/{COSQA_DEV}: cannot read: not a regular file: a FIFO"),
    case("cosqa-json-nested-too-deeply", "cosqa",
         {COSQA_DEV: "[\n" + "[" * 10**5 + "]" * 10**5 + "\n]\n"},
         f"{COSQA_DEV}:2: JSON nested too deeply"),
]  # fmt: skip

COIR_CASES = [
    case("coir-qrels-pointing-nowhere", "coir", {"qrels/test.tsv": "q1\td1\t1\nq2\td9\t1\n"},
         "qrels/test.tsv:2: gold 'd9' of query 'q2' is not in corpus.jsonl"),
    case("coir-qrels-naming-an-unknown-query", "coir", {"qrels/test.tsv": "q1\td1\t1\nq7\td2\t1\n"},
         "qrels/test.tsv:2: query 'q7' is not in queries.jsonl"),
    case("coir-qrels-line-with-two-columns", "coir", {"qrels/test.tsv": "q1\td1\t1\nq2 d2\t1\n"},
         "qrels/test.tsv:2: expected 3 tab-separated columns"),
    case("coir-score-that-is-not-an-integer", "coir",
         {"qrels/test.tsv": "q1\td1\t1\nq2\td2\thigh\n"},
         "qrels/test.tsv:2: score 'high' is not an integer"),
    # no header: a fractional first score is a bad row, not a header to drop (issue 17)
    case("coir-fractional-score-on-the-first-line", "coir",
         {"qrels/test.tsv": "q1\td1\t0.5\nq2\td2\t1\n"},
         "qrels/test.tsv:1: score '0.5' is not an integer"),
    case("coir-fractional-score-after-a-blank-first-line", "coir",
         {"qrels/test.tsv": "\nq1\td1\t1.0\nq2\td2\t1\n"},
         "qrels/test.tsv:2: score '1.0' is not an integer"),
    case("coir-non-utf8-qrels", "coir", {"qrels/test.tsv": b"q1\td1\t1\nq2\td\xff2\t1\n"},
         "qrels/test.tsv:2: not UTF-8: byte 0xff at column 5"),
    case("coir-null-id", "coir",
         {"corpus.jsonl": lines([{"_id": "d1", "text": "x = 1"}, {"_id": None, "text": "y = 2"}])},
         "corpus.jsonl:2: field '_id' must be a string, not null"),
    case("coir-empty-corpus", "coir", {"corpus.jsonl": "\n"}, "{root}/corpus.jsonl: no corpus"),
    case("coir-empty-document-text", "coir",
         {"corpus.jsonl": lines([{"_id": "d1", "text": "x = 1"},
                                 {"_id": "d2", "title": "", "text": "  "}])},
         "corpus.jsonl:2: corpus 'd2' has an empty text"),
    case("coir-duplicate-corpus-id", "coir", {"corpus.jsonl": CORPUS + lines([{"_id": "d1",
                                                                                "text": "y"}])},
         "corpus.jsonl:3: duplicate corpus id 'd1' (first at line 1)"),
]  # fmt: skip

XLCOST_CASES = [
    case("xlcost-id-of-the-wrong-shape", "xlcost",
         {"Python/test.jsonl": lines([xlcost_row("1-Python/1-C++", "f"),
                                      xlcost_row("2-Python", "g")])},
         "{root}/Python/test.jsonl:2:", "'2-Python'"),
    case("xlcost-lone-surrogate", "xlcost",
         {"Python/test.jsonl": lines([xlcost_row("1-Python/1-C++", "f"),
                                      xlcost_row("2-Python/2-C++", "g\udfff")])},
         "{root}/Python/test.jsonl:2: a string holds \\udfff, which is not text"),
    case("xlcost-duplicate-target-with-another-text", "xlcost",
         {"Python/test.jsonl": lines([xlcost_row("1-Python/1-C++", "f"),
                                      xlcost_row("1-Python/1-C++", "g")])},
         "{root}/Python/test.jsonl:2: target '1-C++' has another text than at line 1"),
    # a folder with only val.jsonl is XLCoST data (c2c's default dataset), not "no data"
    case("xlcost-only-a-val-file-is-xlcost", "local",
         {"Python/val.jsonl": lines([xlcost_row("1-Python/1-C++", "f"), xlcost_row("2", "g")])},
         "{root}/Python/val.jsonl:2:", "'2'", args=("--task", "c2c", "--split", "valid")),
]  # fmt: skip

PY = '"""Return the value of x plus one, always and everywhere."""'
LOCAL_CASES = [
    case("local-unknown-language", "local", {"pkg/mod.py": f"def f(x):\n    {PY}\n"}, "'cobol'",
         args=("--task", "t2c", "--set", "dataset.languages=python,cobol")),
    case("local-option-of-the-wrong-type", "local", {"pkg/mod.py": f"def f(x):\n    {PY}\n"},
         "max_test", "'many'", args=("--task", "t2c", "--set", "dataset.max_test=many")),
    case("local-tree-without-any-source", "local", {"docs/notes.txt": "no code here\n"},
         "dataset local: no pairs in the test split were mined from", "{root}",
         args=("--task", "t2c"), notes=1),
    # a FIFO is no source: never opened (it would block the miner forever)
    case("local-source-that-is-a-fifo", "local",
         {"pkg/mod.py": FIFO, "docs/notes.txt": "no code here\n"},
         "dataset local: no pairs in the test split were mined from", "{root}",
         args=("--task", "t2c"), notes=1),
    case("local-test-file-that-is-a-fifo", "local", {"tests/test_mod.py": FIFO},
         "dataset local (task rc): no Python test files found in", args=("--task", "rc"),
         model="tiny-code-lm"),
    case("local-source-name-not-utf8", "local", {b"pkg/caf\xe9.py": f"def f(x):\n    {PY}\n"},
         "{root}/pkg/caf\\xe9.py: the name is not UTF-8 (byte 0xe9); rename it",
         args=("--task", "t2c")),
    case("local-folder-name-not-utf8", "local", {b"p\xffkg/mod.py": f"def f(x):\n    {PY}\n"},
         "{root}/p\\xffkg/mod.py: the name is not UTF-8 (byte 0xff); rename it",
         args=("--task", "t2c")),
    case("local-test-file-name-not-utf8", "local",
         {b"tests/test_caf\xe9.py": "def test_f():\n    assert 1 + 1 == 2\n"},
         "{root}/tests/test_caf\\xe9.py: the name is not UTF-8 (byte 0xe9); rename it",
         args=("--task", "rc"), model="tiny-code-lm"),
]  # fmt: skip

ROWS = [assertion("org/a", "cr_test", 1), assertion("org/b", "train", 2)]
REPOPEFT_CASES = [
    case("repopeft-unknown-split-label", "repopeft",
         {"examples.parquet": examples(ROWS[0], assertion("org/b", "testing", 2))},
         "examples.parquet: row 2: cross_repo_split 'testing' is not one of"),
    case("repopeft-empty-target", "repopeft",
         {"examples.parquet": examples(ROWS[0], assertion("org/b", "train", 2, target=" "))},
         "examples.parquet: row 2: empty target"),
    case("repopeft-column-of-the-wrong-type", "repopeft",
         {"examples.parquet": examples(assertion("org/a", "cr_test", 1, commit_index="0"),
                                       commit_index="string")},
         "examples.parquet: column 'commit_index' must hold integer, not string"),
    case("repopeft-truncated-parquet", "repopeft",
         {"examples.parquet": Half(examples(*[assertion("org/a", "cr_test", n)
                                              for n in range(20)]))},
         "{root}/examples.parquet"),
    case("repopeft-unknown-split", "repopeft", {}, "dataset repopeft: unknown split 'cr_tset'",
         "cr_test", args=("--split", "cr_tset")),
    # two files of one name give one repository's rows the same ids: compare needs them once
    case("repopeft-duplicate-example-ids", "repopeft", {"copy/examples.parquet": examples(ROWS[0])},
         "{root}/examples.parquet: row 1: example id 'org/a:examples.parquet:1' again "
         "(first at {root}/copy/examples.parquet row 1)"),
    case("repopeft-commit-given-by-two-files", "repopeft",
         {"commits.parquet": commits(("org/a", 0)), "old/commits.parquet": commits(("org/a", 0))},
         "{root}/old/commits.parquet: row 1: commit 0 of 'org/a' again "
         "(first at {root}/commits.parquet row 1)"),
    case("repopeft-string-that-is-not-utf8", "repopeft",
         {"examples.parquet": examples(ROWS[0], assertion("org/b", "train", 2,
                                                          prefix=b"assert \xed\xa0\x80 == "))},
         "{root}/examples.parquet: row 2: prefix is not UTF-8 text"),
    case("repopeft-parquet-that-is-a-fifo", "repopeft", {"examples.parquet": FIFO},
         "{root}/examples.parquet: not a regular file: a FIFO"),
]  # fmt: skip

FILE_CASES = CSN_CASES + COSQA_CASES + COIR_CASES + XLCOST_CASES + LOCAL_CASES + REPOPEFT_CASES


@pytest.mark.parametrize("bad", FILE_CASES)
def test_a_broken_dataset_file(store, capfd, bad: Case):
    root = store["data"]
    fifos = write_tree(root, {**TREES[bad.tree], **bad.files})
    model = "tiny-code-lm" if bad.tree == "repopeft" else "minilm"
    args = run_args(store, *DATASET_FLAGS[bad.tree], "--data-dir", str(root), *bad.args,
                    model=bad.model or model)  # fmt: skip
    expected = [piece.replace("{root}", str(root)) for piece in bad.expected]
    with never_blocked(fifos):
        check(store, capfd, args, *expected, notes=bad.notes)


def write_tree(root: Path, files: dict[str | bytes, Content]) -> list[Path]:
    """The files of a tree (a bytes path: a name that is not UTF-8); the FIFOs made."""
    fifos = []
    for name, content in files.items():
        path = Path(os.fsdecode(root)) / os.fsdecode(name)
        if content is REMOVED:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
            fifos.append(path)
        else:
            path.write_bytes(encoded(content))
    root.mkdir(parents=True, exist_ok=True)
    return fifos


class never_blocked:  # noqa: N801  (used as a context manager, like a function)
    """Fails if a reader ever blocked on one of `fifos`: a watcher opens each for writing
    without blocking, which only succeeds while a reader has it open; then it closes it,
    so a blocked reader sees the end of the file and the run goes on (and fails)."""

    def __init__(self, fifos: list[Path]) -> None:
        self.fifos, self.blocked, self.done = fifos, [], threading.Event()

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            for fifo in self.fifos:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue  # ENXIO: nobody reads it
                self.blocked.append(fifo)
                os.close(fd)

    def __enter__(self) -> None:
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        assert not self.blocked, f"a reader blocked on {sorted(set(map(str, self.blocked)))}"


# --- names and flags the user types ---------------------------------------------------------

FLAG_CASES = [
    (["--model", "minlm", "--task", "t2c"], "unknown encoder 'minlm'; did you mean 'minilm'?"),
    (["--model", "minilm", "--task", "t2c", "--strategy", "taskwis"],
     "unknown strategy 'taskwis'; did you mean 'taskwise'?"),
    (["--model", "minilm", "--task", "t2d"], "unknown task 't2d'; did you mean 't2c'?"),
    (["--model", "minilm", "--task", "t2c", "--dataset", "cosq"],
     "unknown dataset 'cosq'; did you mean 'cosqa'?"),
    (["--model", "minilm", "--task", "t2c", "--dataset", "../../etc"],
     "unknown dataset '../../etc'"),
    (["--model", "minilm", "--task", "c2c", "--dataset", "cosqa"],
     "dataset 'cosqa' has no data for task 'c2c' (it serves: t2c)"),
    (["--model", "minilm", "--task", "rc"], "task 'rc' needs a causal LM"),
    (["--model", "minilm", "--task", "t2c", "--limit", "0"],
     "argument --limit: '0' must be at least 1"),
    (["--model", "minilm", "--task", "t2c", "--set", "dataset.max_test"],
     "expected SECTION.KEY=VALUE"),
    (["--model", "minilm", "--task", "t2c", "--set", "encoder.trust_remote_code=true"],
     "--trust-remote-code"),
    (["--model", "tiny-code-lm", "--task", "rc", "--set", "dataset.max_per_rep=5"],
     "--set dataset.max_per_rep: dataset 'local' has no option 'max_per_rep'; "
     "did you mean dataset.max_per_repo?"),
    (["--model", "tiny-code-lm", "--task", "t2c"],
     ("model 'tiny-code-lm' is a causal LM", "needs an embedding encoder")),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "message"), FLAG_CASES, ids=[" ".join(f) for f, _ in FLAG_CASES])
def test_bad_names_and_flags(store, capfd, flags, message):
    args = ["run", *flags, "--results", str(store["results"]), "--cache-dir", str(store["cache"])]
    check(store, capfd, args, *((message,) if isinstance(message, str) else message))


def test_a_strategy_that_does_not_apply_to_the_task(store, capfd, registered):
    registered("strategies", "completion-only", CompletionOnly)
    check(
        store,
        capfd,
        run_args(store, "--task", "t2c", "--strategy", "completion-only"),
        "strategy 'completion-only' does not apply to task 't2c'",
        "it applies to: completion",
    )


# --- models, adapters and what they return -------------------------------------------------------


@pytest.mark.parametrize(("bad", "name"), [(float("nan"), "nan"), (float("inf"), "inf")])
def test_nan_or_infinite_embedding_from_a_broken_encoder(store, capfd, registered, bad, name):
    registered("encoders", f"broken-{name}", lambda argument, options: BrokenEncoder(bad))
    root = store["data"]
    write_tree(root, TREES["csn"])
    check(
        store,
        capfd,
        run_args(store, *DATASET_FLAGS["csn"], "--data-dir", str(root), model=f"broken-{name}"),
        "encoder returned a NaN or infinite query embedding for",
        "(row 1)",
    )


def adapter_case(store: dict[str, Path], model: str, adapter: Path | None = None) -> list[str]:
    write_tree(store["data"], TREES["csn"])
    flags = ["--strategy", "taskwise", "--adapter", str(adapter)] if adapter else []
    return run_args(store, *DATASET_FLAGS["csn"], "--data-dir", str(store["data"]), *flags,
                    model=model)  # fmt: skip


def test_a_model_path_that_does_not_exist(store, capfd, tmp_path):
    missing = tmp_path / "no-such-model"
    check(store, capfd, adapter_case(store, f"hf:{missing}"),
          f"model path {missing} does not exist")  # fmt: skip


@pytest.mark.parametrize(
    ("safetensors", "expected"),
    [
        (
            True,
            (
                "{adapter}/adapter_config.json: base_model_name_or_path",
                "trained for 'microsoft/codebert-base'",
            ),
        ),
        (False, ("{adapter}: no adapter_model.safetensors",)),  # a pickle: never loaded
    ],  # fmt: skip
    ids=["made-for-another-base-model", "pickled"],
)
def test_a_bad_adapter(store, capfd, tiny_bert, tmp_path, safetensors, expected):
    base = "microsoft/codebert-base" if safetensors else str(tiny_bert)
    adapter = peft_adapter(tmp_path / "adapter", base, safetensors=safetensors)
    args = adapter_case(store, f"hf:{tiny_bert}", adapter)
    check(store, capfd, args, *[piece.replace("{adapter}", str(adapter)) for piece in expected])


# --- reading results back ----------------------------------------------------------------------


def test_compare_a_truncated_result_file(store, capfd, tmp_path):
    broken = tmp_path / "a.json"
    broken.write_text('{\n  "model": "minilm",\n  "metrics": {"mrr": \n')
    other = tmp_path / "b.json"
    other.write_text(broken.read_text())
    check(store, capfd, ["compare", str(broken), str(other)], f"{broken}:4: not valid JSON")


# --- helpers ------------------------------------------------------------------------------------


def peft_adapter(folder: Path, base: str, *, safetensors: bool = True) -> Path:
    """An adapter folder as PEFT writes it (config and weights), made for `base`."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    config = {
        "peft_type": "LORA",
        "base_model_name_or_path": base,
        "r": 2,
        "lora_alpha": 4,
        "target_modules": ["query", "value"],
        "task_type": None,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    if safetensors:
        save_file(
            {"w": np.zeros((2, 2), dtype=np.float32)}, str(folder / "adapter_model.safetensors")
        )
    else:
        (folder / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle: never loaded
    return folder


class BrokenEncoder:
    """An encoder whose second embedding is `bad` (NaN or infinity)."""

    def __init__(self, bad: float) -> None:
        self.name, self.dim, self.info, self.bad = "broken", 4, {"model": "broken"}, bad

    def encode(self, texts: list[str], *, role: str = "code", description: str = "") -> Any:
        rows = np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))
        rows[min(1, len(texts) - 1), 2] = self.bad
        return rows


class CompletionOnly(Strategy):
    name = "completion-only"
    task_kinds = ("completion",)


@pytest.fixture
def registered() -> Iterator[Callable[..., None]]:
    """Register an entry for one test (as a plugin would); it is gone afterwards."""
    loaded = plugins()
    saved = {kind: registry.snapshot() for kind, registry in loaded.registries.items()}

    def register(kind: str, name: str, target: Any) -> None:
        loaded.registries[kind].register(name, target, "a test entry", plugin="tests")

    yield register
    for kind, registry in loaded.registries.items():
        registry.restore(saved[kind])


def harness(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse exits itself
        code = int(exc.code or 0)
    return code, capfd.readouterr().err


def assert_one_line_error(
    code: int, err: str, results: Path, *expected: str, notes: int = 0
) -> str:
    """Exit code 2, stderr one error line (after `notes` lines of progress), nothing written."""
    assert code == 2, err
    shown = err.strip().splitlines()
    assert len(shown) == 1 + notes, err
    assert shown[-1].startswith("harness: error: "), err
    assert "Traceback" not in err and not any("error" in line for line in shown[:-1]), err
    for piece in expected:
        assert piece in shown[-1], shown[-1]
    written = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert written == [], written
    return shown[-1]


@pytest.fixture
def store(tmp_path: Path) -> dict[str, Path]:
    return {"results": tmp_path / "results", "cache": tmp_path / "cache", "data": tmp_path / "d"}


def run_args(store: dict[str, Path], *args: str, model: str = "minilm") -> list[str]:
    places = ["--results", str(store["results"]), "--cache-dir", str(store["cache"])]
    return ["run", "--model", model, *places, "--device", "cpu", *args]


def check(
    store: dict[str, Path], capfd: Any, args: list[str], *expected: str, notes: int = 0
) -> str:
    code, err = harness(args, capfd)
    return assert_one_line_error(code, err, store["results"], *expected, notes=notes)
