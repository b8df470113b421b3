"""Malformed input, through `harness run` (in process): one line, exit code 2, nothing written.

Each case builds a small broken input, runs the command, and checks the three
promises of the CLI: stderr holds exactly one line, ``harness: error: ...``,
naming the file and line (or the name or field) and what is wrong; the exit
code is 2; the result store holds no file afterwards.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_code_tree

from harness.cli import main
from harness.plugin_manager import plugins
from harness.registry import Entry
from harness.strategy import Strategy

# --- inputs -----------------------------------------------------------------------------


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


def csn_tree(root: Path, *, test: str | bytes | None = None, codebase: str | None = None) -> Path:
    """GraphCodeBERT's layout: python/test.jsonl queries against python/codebase.jsonl."""
    folder = root / "python"
    folder.mkdir(parents=True, exist_ok=True)
    test = lines([csn_record(n) for n in (1, 2, 3)]) if test is None else test
    if isinstance(test, bytes):
        (folder / "test.jsonl").write_bytes(test)
    else:
        (folder / "test.jsonl").write_text(test)
    codebase = lines([csn_record(n) for n in (1, 2, 3, 4)]) if codebase is None else codebase
    (folder / "codebase.jsonl").write_text(codebase)
    return root


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


def cosqa_tree(root: Path, *, dev: str | None = None, codes: str | None = None) -> Path:
    """CoCLR's layout: a JSON list per split (one record a line) and code_idx_map.txt."""
    root.mkdir(parents=True, exist_ok=True)
    if dev is None:
        dev = cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1)])
    (root / "cosqa-retrieval-dev-2.json").write_text(dev)
    if codes is None:
        codes = json.dumps({code: i for i, code in enumerate(COSQA_CODES)})
    (root / "code_idx_map.txt").write_text(codes)
    return root


def cosqa_list(rows: list[dict[str, Any]]) -> str:
    return "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"


def beir_tree(
    root: Path,
    *,
    qrels: str | bytes = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    corpus: str | None = None,
) -> Path:
    """BEIR's layout: corpus.jsonl, queries.jsonl and qrels/test.tsv."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    if corpus is None:
        corpus = lines(
            [
                {"_id": "d1", "text": "def add(a, b): return a + b"},
                {"_id": "d2", "text": "def neg(x): return -x"},
            ]
        )
    (root / "corpus.jsonl").write_text(corpus)
    queries = [{"_id": "q1", "text": "add two numbers"}, {"_id": "q2", "text": "negate"}]
    (root / "queries.jsonl").write_text(lines(queries))
    target = root / "qrels" / "test.tsv"
    target.write_bytes(qrels) if isinstance(qrels, bytes) else target.write_text(qrels)
    return root


def xlcost_tree(root: Path, test: list[dict[str, Any]]) -> Path:
    (root / "Python").mkdir(parents=True, exist_ok=True)
    (root / "Python" / "test.jsonl").write_text(lines(test))
    return root


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


# --- the driver ---------------------------------------------------------------------------


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Register an entry for one test (as a plugin would); it is gone afterwards."""
    loaded = plugins()

    def register(kind: str, name: str, target: Any) -> None:
        registry = loaded.registries[kind]
        entry = Entry(registry.kind, name, target, "a test entry", "tests")
        monkeypatch.setitem(registry._entries, name, entry)

    return register


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


# --- CodeSearchNet (jsonl) ------------------------------------------------------------------

CSN = ("--task", "t2c", "--dataset", "csn")


def test_csn_truncated_json_line(store, capfd):
    text = lines([csn_record(1), csn_record(2)]) + '{"url": "x", "docstr'
    root = csn_tree(store["data"], test=text)
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        f"{root / 'python' / 'test.jsonl'}:3: not JSON",
    )


def test_csn_truncated_gzip(store, capfd):
    root = csn_tree(store["data"])
    whole = gzip.compress(lines([csn_record(n) for n in (1, 2, 3)]).encode())
    (root / "python" / "test.jsonl").unlink()
    (root / "python" / "test.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        f"{root / 'python' / 'test.jsonl.gz'}: cannot read",
    )


def test_csn_field_of_the_wrong_type(store, capfd):
    bad = {**csn_record(2), "docstring_tokens": "Add 2 to x."}
    root = csn_tree(store["data"], test=lines([csn_record(1), bad]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "test.jsonl:2: field 'docstring_tokens' must be a list of strings, not a string",
    )


def test_csn_line_that_is_not_an_object(store, capfd):
    root = csn_tree(store["data"], test=lines([csn_record(1), ["url", "code"]]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "test.jsonl:2: not a JSON object",
    )


def test_csn_missing_field(store, capfd):
    broken = {k: v for k, v in csn_record(2).items() if k != "url"}
    root = csn_tree(store["data"], codebase=lines([csn_record(1), broken]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "codebase.jsonl:2: missing field 'url'",
    )


def test_csn_duplicate_corpus_id(store, capfd):
    root = csn_tree(store["data"], codebase=lines([csn_record(n) for n in (1, 2, 3, 2)]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "codebase.jsonl:4: duplicate corpus id",
        "first at",
    )


def test_csn_gold_absent_from_the_corpus(store, capfd):
    root = csn_tree(store["data"], codebase=lines([csn_record(n) for n in (1, 3)]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        f"test.jsonl:2: gold {csn_record(2)['url']!r}",
        "is not in codebase.jsonl",
    )


def test_csn_non_utf8_bytes(store, capfd):
    text = lines([csn_record(1)]).encode() + b'{"url": "caf\xe9"}\n'
    root = csn_tree(store["data"], test=text)
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "test.jsonl:2: not UTF-8: byte 0xe9 at column 13",
    )


def test_csn_empty_split(store, capfd):
    root = csn_tree(store["data"], test="")
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        f"{root / 'python' / 'test.jsonl'}: no queries in the test split",
    )


def test_csn_empty_query_text(store, capfd):
    empty = {**csn_record(2), "docstring_tokens": []}
    root = csn_tree(store["data"], test=lines([csn_record(1), empty]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        f"test.jsonl:2: query {empty['url']!r} has an empty text",
    )


def test_csn_empty_id(store, capfd):
    root = csn_tree(store["data"], codebase=lines([csn_record(1), {**csn_record(2), "url": ""}]))
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root)),
        "codebase.jsonl:2: empty corpus id",
    )


def test_csn_unknown_language(store, capfd):
    root = csn_tree(store["data"])
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root), "--languages", "cobol"),
        "dataset csn: unknown language 'cobol' (known: go, java",
    )


# --- CoSQA (one JSON list per split) ---------------------------------------------------------

COSQA = ("--task", "t2c", "--dataset", "cosqa", "--split", "dev")


def test_cosqa_truncated_json_list(store, capfd):
    whole = cosqa_list([cosqa_record("q1", 0), cosqa_record("q2", 1)])
    root = cosqa_tree(store["data"], dev=whole[: whole.index('"q2"') + 10])
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "cosqa-retrieval-dev-2.json:3: not JSON",
    )


def test_cosqa_label_of_the_wrong_type(store, capfd):
    rows = [cosqa_record("q1", 0), cosqa_record("q2", 1, label="1")]
    root = cosqa_tree(store["data"], dev=cosqa_list(rows))
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "cosqa-retrieval-dev-2.json:3: field 'label' must be an integer, not a string",
    )


def test_cosqa_missing_field(store, capfd):
    broken = {k: v for k, v in cosqa_record("q2", 1).items() if k != "doc"}
    root = cosqa_tree(store["data"], dev=cosqa_list([cosqa_record("q1", 0), broken]))
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "cosqa-retrieval-dev-2.json:3: missing field 'doc'",
    )


def test_cosqa_duplicate_query_id(store, capfd):
    rows = [cosqa_record("q1", 0), cosqa_record("q1", 1)]
    root = cosqa_tree(store["data"], dev=cosqa_list(rows))
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "cosqa-retrieval-dev-2.json:3: duplicate query id 'q1'",
    )


def test_cosqa_gold_absent_from_the_codebase(store, capfd):
    rows = [cosqa_record("q1", 0), cosqa_record("q2", 1, retrieval_idx=7)]
    root = cosqa_tree(store["data"], dev=cosqa_list(rows))
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "cosqa-retrieval-dev-2.json:3: gold '7' of query 'q2' is not in code_idx_map.txt",
    )


def test_cosqa_codebase_index_that_is_not_an_integer(store, capfd):
    codes = '{\n"def add(a, b):\\n    return a + b": 0,\n"def neg(x):\\n    return -x": "1"\n}'
    root = cosqa_tree(store["data"], codes=codes)
    check(
        store,
        capfd,
        run_args(store, *COSQA, "--data-dir", str(root)),
        "code_idx_map.txt:3: the index of a code must be an integer, not '1'",
    )


def test_cosqa_unknown_split(store, capfd):
    root = cosqa_tree(store["data"])
    check(
        store,
        capfd,
        [
            "run",
            "--model",
            "minilm",
            "--task",
            "t2c",
            "--dataset",
            "cosqa",
            "--split",
            "tset",
            "--data-dir",
            str(root),
            "--results",
            str(store["results"]),
        ],
        "dataset cosqa: unknown split 'tset'",
    )


# --- CoIR / BEIR (corpus, queries, qrels) ------------------------------------------------------

COIR = ("--task", "t2c", "--dataset", "coir")


def test_coir_qrels_pointing_nowhere(store, capfd):
    root = beir_tree(store["data"], qrels="q1\td1\t1\nq2\td9\t1\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "qrels/test.tsv:2: gold 'd9' of query 'q2' is not in corpus.jsonl",
    )


def test_coir_qrels_naming_an_unknown_query(store, capfd):
    root = beir_tree(store["data"], qrels="q1\td1\t1\nq7\td2\t1\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "qrels/test.tsv:2: query 'q7' is not in queries.jsonl",
    )


def test_coir_qrels_line_with_two_columns(store, capfd):
    root = beir_tree(store["data"], qrels="q1\td1\t1\nq2 d2\t1\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "qrels/test.tsv:2: expected 3 tab-separated columns",
    )


def test_coir_score_that_is_not_an_integer(store, capfd):
    root = beir_tree(store["data"], qrels="q1\td1\t1\nq2\td2\thigh\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "qrels/test.tsv:2: score 'high' is not an integer",
    )


def test_coir_non_utf8_qrels(store, capfd):
    root = beir_tree(store["data"], qrels=b"q1\td1\t1\nq2\td\xff2\t1\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "qrels/test.tsv:2: not UTF-8: byte 0xff at column 5",
    )


def test_coir_null_id(store, capfd):
    corpus = lines([{"_id": "d1", "text": "x = 1"}, {"_id": None, "text": "y = 2"}])
    root = beir_tree(store["data"], corpus=corpus)
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "corpus.jsonl:2: field '_id' must be a string, not null",
    )


def test_coir_empty_corpus(store, capfd):
    root = beir_tree(store["data"], corpus="\n")
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        f"{root / 'corpus.jsonl'}: no corpus",
    )


def test_coir_empty_document_text(store, capfd):
    corpus = lines([{"_id": "d1", "text": "x = 1"}, {"_id": "d2", "title": "", "text": "  "}])
    root = beir_tree(store["data"], corpus=corpus)
    check(
        store,
        capfd,
        run_args(store, *COIR, "--data-dir", str(root)),
        "corpus.jsonl:2: corpus 'd2' has an empty text",
    )


# --- XLCoST (jsonl with a structured id) ----------------------------------------------------


def test_xlcost_id_of_the_wrong_shape(store, capfd):
    rows = [
        {"idx": "1-Python/1-C++", "docstring_tokens": ["f"], "code_tokens": ["int", "f"]},
        {"idx": "2-Python", "docstring_tokens": ["g"], "code_tokens": ["int", "g"]},
    ]
    root = xlcost_tree(store["data"], rows)
    check(
        store,
        capfd,
        run_args(
            store,
            "--task",
            "c2c",
            "--dataset",
            "xlcost",
            "--data-dir",
            str(root),
            "--languages",
            "python",
        ),
        f"{root / 'Python' / 'test.jsonl'}:2:",
        "'2-Python'",
    )


# --- the local dataset (mined from a tree) -----------------------------------------------------


def test_local_unknown_language(store, capfd):
    root = write_code_tree(store["data"], n_python=4, n_c=0)
    check(
        store,
        capfd,
        run_args(
            store,
            "--task",
            "t2c",
            "--data-dir",
            str(root),
            "--set",
            "dataset.languages=python,cobol",
        ),
        "'cobol'",
    )


def test_local_option_of_the_wrong_type(store, capfd):
    root = write_code_tree(store["data"], n_python=4, n_c=0)
    check(
        store,
        capfd,
        run_args(store, "--task", "t2c", "--data-dir", str(root), "--set", "dataset.max_test=many"),
        "max_test",
        "'many'",
    )


def test_local_tree_without_any_source(store, capfd):
    (store["data"] / "docs").mkdir(parents=True)
    (store["data"] / "docs" / "notes.txt").write_text("no code here\n")
    check(
        store,
        capfd,
        run_args(store, "--task", "t2c", "--data-dir", str(store["data"])),
        "dataset local: no pairs in the test split were mined from",
        str(store["data"]),
        notes=1,
    )


# --- RepoPeftBench (parquet) and the completion task -------------------------------------------

RC = ("--task", "rc", "--dataset", "repopeft")
EXAMPLE_COLUMNS = ("repo_id", "commit_index", "prefix", "target", "cross_repo_split",
                   "in_repo_split", "test_file")  # fmt: skip


def repopeft_file(folder: Path, rows: list[dict[str, Any]], **types: Any) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = {name: pa.string() for name in EXAMPLE_COLUMNS} | {"commit_index": pa.int64()}
    schema.update(types)
    columns = {name: pa.array([r.get(name) for r in rows], kind) for name, kind in schema.items()}
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), folder / "examples.parquet")
    return folder


def assertion(repo: str, cross: str, n: int, **changes: Any) -> dict[str, Any]:
    row = {"repo_id": repo, "commit_index": None, "prefix": f"assert f({n}) == ",
           "target": str(n), "cross_repo_split": cross, "in_repo_split": "train",
           "test_file": "tests/test_f.py"}  # fmt: skip
    row.update(changes)
    return row


def test_repopeft_unknown_split_label(store, capfd):
    rows = [assertion("org/a", "cr_test", 1), assertion("org/b", "testing", 2)]
    root = repopeft_file(store["data"], rows)
    check(
        store,
        capfd,
        run_args(store, *RC, "--data-dir", str(root), model="tiny-code-lm"),
        "examples.parquet: row 2: cross_repo_split 'testing' is not one of",
    )


def test_repopeft_empty_target(store, capfd):
    rows = [assertion("org/a", "cr_test", 1), assertion("org/b", "train", 2, target=" ")]
    root = repopeft_file(store["data"], rows)
    check(
        store,
        capfd,
        run_args(store, *RC, "--data-dir", str(root), model="tiny-code-lm"),
        "examples.parquet: row 2: empty target",
    )


def test_repopeft_column_of_the_wrong_type(store, capfd):
    import pyarrow as pa

    rows = [assertion("org/a", "cr_test", 1, commit_index="0")]
    root = repopeft_file(store["data"], rows, commit_index=pa.string())
    check(
        store,
        capfd,
        run_args(store, *RC, "--data-dir", str(root), model="tiny-code-lm"),
        "examples.parquet: column 'commit_index' must hold integer, not string",
    )


def test_repopeft_truncated_parquet(store, capfd):
    root = repopeft_file(store["data"], [assertion("org/a", "cr_test", n) for n in range(20)])
    whole = (root / "examples.parquet").read_bytes()
    (root / "examples.parquet").write_bytes(whole[: len(whole) // 2])
    check(
        store,
        capfd,
        run_args(store, *RC, "--data-dir", str(root), model="tiny-code-lm"),
        str(root / "examples.parquet"),
    )


def test_completion_split_that_does_not_exist(store, capfd):
    root = repopeft_file(store["data"], [assertion("org/a", "cr_test", 1)])
    args = run_args(store, *RC, "--data-dir", str(root), "--split", "cr_tset",
                    model="tiny-code-lm")  # fmt: skip
    check(store, capfd, args, "dataset repopeft: unknown split 'cr_tset'", "cr_test")


def test_completion_option_that_does_not_exist(store, capfd):
    args = run_args(store, "--task", "rc", "--set", "dataset.max_per_rep=5", model="tiny-code-lm")
    check(
        store,
        capfd,
        args,
        "--set dataset.max_per_rep: dataset 'local' has no option 'max_per_rep'; "
        "did you mean dataset.max_per_repo?",
    )


def test_a_causal_lm_on_a_retrieval_task(store, capfd):
    check(
        store,
        capfd,
        run_args(store, "--task", "t2c", model="tiny-code-lm"),
        "model 'tiny-code-lm' is a causal LM",
        "needs an embedding encoder",
    )


# --- names the user types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "minlm", "--task", "t2c"], "unknown encoder 'minlm'; did you mean 'minilm'?"),
        (
            ["--model", "minilm", "--task", "t2c", "--strategy", "taskwis"],
            "unknown strategy 'taskwis'; did you mean 'taskwise'?",
        ),
        (["--model", "minilm", "--task", "t2d"], "unknown task 't2d'; did you mean 't2c'?"),
        (
            ["--model", "minilm", "--task", "t2c", "--dataset", "cosq"],
            "unknown dataset 'cosq'; did you mean 'cosqa'?",
        ),
        (
            ["--model", "minilm", "--task", "t2c", "--dataset", "../../etc"],
            "unknown dataset '../../etc'",
        ),
        (
            ["--model", "minilm", "--task", "c2c", "--dataset", "cosqa"],
            "dataset 'cosqa' has no data for task 'c2c' (it serves: t2c)",
        ),
        (["--model", "minilm", "--task", "rc"], "task 'rc' needs a causal LM"),
        (
            ["--model", "minilm", "--task", "t2c", "--limit", "0"],
            "argument --limit: '0' must be at least 1",
        ),
        (
            ["--model", "minilm", "--task", "t2c", "--set", "dataset.max_test"],
            "expected SECTION.KEY=VALUE",
        ),
        (
            ["--model", "minilm", "--task", "t2c", "--set", "encoder.trust_remote_code=true"],
            "--trust-remote-code",
        ),
    ],
)
def test_bad_names_and_flags(store, capfd, flags, message):
    args = ["run", *flags, "--results", str(store["results"]), "--cache-dir", str(store["cache"])]
    check(store, capfd, args, message)


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
    root = csn_tree(store["data"])
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root), model=f"broken-{name}"),
        "encoder returned a NaN or infinite query embedding for",
        "(row 1)",
    )


def test_a_model_path_that_does_not_exist(store, capfd, tmp_path):
    root = csn_tree(store["data"])
    missing = tmp_path / "no-such-model"
    check(
        store,
        capfd,
        run_args(store, *CSN, "--data-dir", str(root), model=f"hf:{missing}"),
        f"model path {missing} does not exist",
    )


def test_an_adapter_for_another_base_model(store, capfd, tiny_bert, tmp_path):
    adapter = peft_adapter(tmp_path / "adapter", "microsoft/codebert-base")
    root = csn_tree(store["data"])
    args = run_args(
        store,
        *CSN,
        "--data-dir",
        str(root),
        "--strategy",
        "taskwise",
        "--adapter",
        str(adapter),
        model=f"hf:{tiny_bert}",
    )
    check(
        store,
        capfd,
        args,
        f"{adapter / 'adapter_config.json'}: base_model_name_or_path",
        "trained for 'microsoft/codebert-base'",
    )


def test_a_pickled_adapter_is_refused(store, capfd, tiny_bert, tmp_path):
    adapter = peft_adapter(tmp_path / "adapter", str(tiny_bert), safetensors=False)
    root = csn_tree(store["data"])
    args = run_args(
        store,
        *CSN,
        "--data-dir",
        str(root),
        "--strategy",
        "taskwise",
        "--adapter",
        str(adapter),
        model=f"hf:{tiny_bert}",
    )
    check(store, capfd, args, f"{adapter}: no adapter_model.safetensors")


# --- reading results back ----------------------------------------------------------------------


def test_compare_a_truncated_result_file(store, capfd, tmp_path):
    broken = tmp_path / "a.json"
    broken.write_text('{\n  "model": "minilm",\n  "metrics": {"mrr": \n')
    other = tmp_path / "b.json"
    other.write_text(broken.read_text())
    check(store, capfd, ["compare", str(broken), str(other)], f"{broken}:4: not valid JSON")
