"""The ``cosqa`` loader on CoCLR-format files written by the tests, and its checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import DatasetOptions
from harness.errors import HarnessError, InputError
from harness.plugins.datasets.cosqa import harness_register_datasets, load_cosqa
from tests.fake_hub import queries_corpus_layout, serve, single_layout

CODES = [
    "def add(a, b):\n    return a + b",
    "def read_json(path):\n    with open(path) as f:\n        return json.load(f)",
    "def reverse(items):\n    return items[::-1]",
]


def record(idx: str, doc: str, code_index: int, label: int = 1) -> dict[str, object]:
    code = CODES[code_index]
    return {
        "idx": idx,
        "doc": doc,
        "code": code,
        "code_tokens": code.split(),
        "docstring_tokens": doc.split(),
        "label": label,
        "retrieval_idx": code_index,
    }


def write_cosqa(folder: Path, *, dev: list[dict[str, object]] | None = None) -> Path:
    """The CoCLR layout: one JSON list per split (one record per line) and the code map."""
    folder.mkdir(parents=True, exist_ok=True)
    dev = (
        dev
        if dev is not None
        else [
            record("cosqa-dev-1", "python add two numbers", 0),
            record("cosqa-dev-2", "read a json file", 1),
            record("cosqa-dev-3", "python sort list", 2, label=0),
        ]
    )
    train = [record("cosqa-train-1", "reverse a list", 2), record("cosqa-train-2", "sum", 0, 0)]
    for split, rows in (("dev", dev), ("train", train)):
        lines = ",\n".join(json.dumps(row) for row in rows)
        (folder / f"cosqa-retrieval-{split}-{len(rows)}.json").write_text(f"[\n{lines}\n]\n")
    (folder / "code_idx_map.txt").write_text(json.dumps({c: i for i, c in enumerate(CODES)}))
    return folder


def load(folder: Path, split: str = "dev", **kwargs: object) -> object:
    options = DatasetOptions(task="t2c", cache_dir=folder, data_dir=folder, split=split, **kwargs)  # type: ignore[arg-type]
    return load_cosqa(options)


def test_queries_rank_against_the_whole_codebase(tmp_path: Path) -> None:
    dataset = load(write_cosqa(tmp_path / "cosqa"))
    python = dataset.partitions["python"]  # type: ignore[attr-defined]
    # label 0 is no query; corpus ids are the map's indexes
    assert python.eval.queries == {
        "cosqa-dev-1": "python add two numbers",
        "cosqa-dev-2": "read a json file",
    }
    assert python.eval.corpus == {"0": CODES[0], "1": CODES[1], "2": CODES[2]}
    assert python.eval.qrels == {"cosqa-dev-1": {"0": 1}, "cosqa-dev-2": {"1": 1}}
    assert [(p.query, p.group) for p in python.train] == [("reverse a list", "2")]
    assert dataset.meta["n_queries"] == 2 and dataset.meta["n_corpus"] == 3  # type: ignore[attr-defined]
    assert "CoCLR" in dataset.meta["protocol"]  # type: ignore[attr-defined]


def test_valid_means_dev_and_limit_keeps_the_corpus(tmp_path: Path) -> None:
    folder = write_cosqa(tmp_path / "cosqa")
    limited = load(folder, split="valid", limit=1).partitions["python"].eval  # type: ignore[attr-defined]
    assert list(limited.queries) == ["cosqa-dev-1"] and len(limited.corpus) == 3
    with pytest.raises(InputError, match=r"no cosqa-retrieval-test-\*\.json here; put the CoCLR"):
        load(folder, split="test")
    with pytest.raises(HarnessError, match=r"unknown split 'eval' \(known: dev, test, train"):
        load(folder, split="eval")
    with pytest.raises(HarnessError, match=r"unknown option 'hubid'"):
        load(folder, extra={"hubid": "x"})


BAD_RECORDS = [
    ({"doc": "no id"}, r"dev-1\.json:2: missing field 'idx'"),
    ({"idx": 7}, r"dev-1\.json:2: field 'idx' must be a string, not an integer"),
    ({"label": "1"}, r"dev-1\.json:2: field 'label' must be an integer, not a string"),
    ({"retrieval_idx": 9}, r"dev-1\.json:2: gold '9' of query 'q' is not in code_idx_map\.txt"),
    ({"retrieval_idx": True}, r"field 'retrieval_idx' must be an integer, not a boolean"),
]


@pytest.mark.parametrize(("change", "message"), BAD_RECORDS)
def test_a_bad_record_is_named_by_file_and_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    bad = {**record("q", "add numbers", 0), **change}
    if "idx" not in change and "doc" in change:
        del bad["idx"]
    folder = write_cosqa(tmp_path / "cosqa", dev=[bad])
    with pytest.raises(InputError, match=message):
        load(folder)


def refused(path: Path, text: str, message: str) -> None:
    """`path` rewritten as `text` makes loading its folder fail with `message`."""
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load(path.parent)


def test_duplicate_ids_empty_splits_and_broken_json(tmp_path: Path) -> None:
    twice = [record("q", "add numbers", 0), record("q", "read json", 1)]
    folder = write_cosqa(tmp_path / "a", dev=twice)
    with pytest.raises(
        InputError, match=r"dev-2\.json:3: duplicate query id 'q' \(first at .*:2\)"
    ):
        load(folder)
    folder = write_cosqa(tmp_path / "b", dev=[record("q", "sort", 2, label=0)])
    with pytest.raises(InputError, match=r"dev-1\.json: no queries in the dev split"):
        load(folder)
    dev = folder / "cosqa-retrieval-dev-1.json"
    refused(dev, '[\n{"idx": "q",\n "doc": oops}\n]', r"dev-1\.json:3: not JSON: Expecting value")
    refused(dev, '[\n{"idx": "q"}\n{"idx": "r"}]', r"dev-1\.json:3: not JSON: expected ',' or '\]'")
    refused(dev, "[1]", r"dev-1\.json:1: not a JSON object")


def test_codebase_indexes_are_integers_and_unique(tmp_path: Path) -> None:
    folder = write_cosqa(tmp_path / "cosqa")
    codes = folder / "code_idx_map.txt"
    twice = '{\n"def f(): pass": 0,\n"def g(): pass": 0\n}'
    refused(codes, twice, r"code_idx_map\.txt:3: index 0 is given to two codes")
    refused(codes, '{"def f(): pass": "0"}', r"code_idx_map\.txt:1: the index of a code must be an")
    (folder / "code_idx_map.txt").unlink()
    with pytest.raises(InputError, match=r"code_idx_map\.txt: missing; put the CoCLR release"):
        load(folder)


def test_offline_without_data_dir_says_which_files_to_put_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = DatasetOptions(task="t2c", cache_dir=tmp_path, split="test")
    with pytest.raises(HarnessError, match=r"hub is offline.*cosqa-retrieval-\{train,dev,test\}"):
        load_cosqa(options)


def test_cli_reports_file_and_line_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    folder = write_cosqa(tmp_path / "cosqa", dev=[{**record("q", "add", 0), "retrieval_idx": 5}])
    results = tmp_path / "results"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--model", "minilm", "--task", "t2c",
         "--dataset", "cosqa", "--data-dir", str(folder), "--split", "dev",
         "--results", str(results), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    expected = f"harness: error: {folder / 'cosqa-retrieval-dev-1.json'}:2: gold '5' of query 'q'"
    assert done.stderr.strip().startswith(expected), done.stderr
    assert not results.exists()


def test_registered_for_t2c_without_heavy_imports() -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    harness_register_datasets(register=lambda *args, **kwargs: calls.append((args, kwargs)))
    (name, target, _), meta = calls[0]
    assert name == "cosqa" and target == "harness.plugins.datasets.cosqa:load_cosqa"
    assert meta["tasks"] == ["t2c"]
    code = (
        "import sys, harness.plugins.datasets.cosqa, harness.plugins.datasets.csn\n"
        "import harness.plugins.datasets.xlcost, harness.plugins.datasets.coir\n"
        "heavy = [m for m in ('torch', 'datasets', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_online_without_data_dir_reads_coirs_copy_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    corpus = [{"_id": "c1", "title": "", "text": CODES[0]}]
    queries = [{"_id": "q1", "text": "python add two numbers"}]
    qrels = {"test": [{"query_id": "q1", "corpus_id": "c1", "score": 1}]}
    for layout, repositories in (
        (
            queries_corpus_layout,
            {"CoIR-Retrieval/cosqa-queries-corpus", "CoIR-Retrieval/cosqa-qrels"},
        ),
        (single_layout, {"CoIR-Retrieval/cosqa"}),
    ):
        asked = serve(monkeypatch, layout("CoIR-Retrieval/cosqa", corpus, queries, qrels))
        dataset = load_cosqa(DatasetOptions(task="t2c", cache_dir=tmp_path, split="test"))
        assert {call[0] for call in asked} >= repositories
        assert dataset.name == "cosqa" and list(dataset.partitions) == ["python"]
        assert dataset.partitions["python"].eval.qrels == {"q1": {"c1": 1}}
        assert dataset.meta["protocol"] == "coir" and "not CoCLR's" in dataset.meta["note"]
        expected = "queries-corpus" if layout is queries_corpus_layout else "single"
        assert dataset.meta["hub_layout"] == expected
