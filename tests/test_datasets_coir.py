"""The ``coir`` loader: the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.data import DatasetOptions, RetrievalDataset
from harness.errors import HarnessError, InputError
from harness.plugins.datasets.coir import load_coir
from tests.fake_hub import queries_corpus_layout, serve, single_layout


def write_beir(
    folder: Path,
    *,
    qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t1\nq2\td2\t1\nq3\td1\t0\n",
    corpus: list[dict[str, Any]] | None = None,
) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = (
        corpus
        if corpus is not None
        else [
            {"_id": "d1", "title": "", "text": "def add(a, b): return a + b"},
            {"_id": "d2", "title": "util", "text": "def read(p): return open(p).read()"},
            {"_id": "d3", "text": "def plus(x, y): return x + y"},
        ]
    )
    queries = [
        {"_id": "q1", "text": "add two numbers"},
        {"_id": "q2", "text": "read a file"},
        {"_id": "q3", "text": "sort a list"},
    ]
    for name, rows in (("corpus", corpus), ("queries", queries)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    (folder / "qrels" / "train.tsv").write_text("q2\td2\t1\n")
    return folder


def load(root: Path, **kwargs: Any) -> RetrievalDataset:
    return load_coir(DatasetOptions(task="t2c", cache_dir=root, data_dir=root, **kwargs))


def test_queries_with_a_positive_qrel_rank_against_the_corpus(tmp_path: Path) -> None:
    dataset = load(write_beir(tmp_path / "cosqa"))
    split = dataset.partitions["cosqa"].eval
    # q3 has only a score of 0: not a query of this split; q1 has two relevant documents
    assert split.queries == {"q1": "add two numbers", "q2": "read a file"}
    assert split.qrels == {"q1": {"d1": 1, "d3": 1}, "q2": {"d2": 1}}
    assert split.corpus["d2"] == "util def read(p): return open(p).read()"  # title, then text
    train = dataset.partitions["cosqa"].train
    assert [(p.query, p.group) for p in train] == [("read a file", "q2")]


def test_one_partition_per_subfolder(tmp_path: Path) -> None:
    write_beir(tmp_path / "coir" / "apps")
    write_beir(tmp_path / "coir" / "cosqa")
    assert sorted(load(tmp_path / "coir").partitions) == ["apps", "cosqa"]
    assert list(load(tmp_path / "coir", languages=["apps"]).partitions) == ["apps"]


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("q1\td1\n", r"test\.tsv:1: expected 3 tab-separated columns .*found 2"),
        ("q1\td1\t1\nq2\td2\thigh\n", r"test\.tsv:2: score 'high' is not an integer"),
        ("q1\td1\t1\nq9\td1\t1\n", r"test\.tsv:2: query 'q9' is not in queries\.jsonl"),
        ("q1\td9\t1\n", r"test\.tsv:1: gold 'd9' of query 'q1' is not in corpus\.jsonl"),
        ("q1\td1\t0\n", r"test\.tsv: no queries in the test split"),
    ],
)
def test_bad_qrels_are_named_by_file_and_line(tmp_path: Path, qrels: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load(write_beir(tmp_path / "set", qrels=qrels))


def test_bad_corpus_lines_and_missing_files(tmp_path: Path) -> None:
    twice = [{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}]
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: duplicate corpus id 'd1' \(first at"):
        load(write_beir(tmp_path / "a", corpus=twice))
    with pytest.raises(
        InputError, match=r"corpus\.jsonl:1: field 'text' must be a string, not null"
    ):
        load(write_beir(tmp_path / "b", corpus=[{"_id": "d1", "text": None}]))
    with pytest.raises(
        InputError, match=r"corpus\.jsonl:1: field '_id' must be a string, not a list"
    ):
        load(write_beir(tmp_path / "c", corpus=[{"_id": [1], "text": "x"}]))
    folder = write_beir(tmp_path / "d")
    with pytest.raises(InputError, match=r"missing qrels/valid\.tsv"):
        load(folder, split="valid")
    (folder / "queries.jsonl").unlink()
    with pytest.raises(InputError, match=r"queries\.jsonl: missing; put corpus\.jsonl"):
        load(folder)
    with pytest.raises(InputError, match=r"no corpus\.jsonl here or in its subfolders"):
        load(tmp_path / "empty")


HUB_CORPUS = [
    {"_id": "d1", "title": "", "text": "def f(): pass", "partition": "test"},
    {"_id": "d2", "title": "g", "text": "def g(): return 1", "partition": "test"},
    {"_id": "d3", "text": "def h(): return 2", "partition": "train"},
]
HUB_QUERIES = [
    {"_id": "q1", "text": "a function", "partition": "test"},
    {"_id": "q2", "text": "one", "partition": "test"},
    {"_id": "q3", "text": "two", "partition": "train"},
]
HUB_QRELS = {
    "test": [
        {"query_id": "q1", "corpus_id": "d1", "score": 1},
        {"query_id": "q2", "corpus_id": "d2", "score": 1},
        {"query_id": "q2", "corpus_id": "d1", "score": 0},
    ],
    "valid": [{"query_id": "q2", "corpus_id": "d2", "score": 1}],
    "train": [{"query_id": "q3", "corpus_id": "d3", "score": 1}],
}


def hub_load(tmp_path: Path, **extra: Any) -> RetrievalDataset:
    options = extra.pop("options", {})
    return load_coir(
        DatasetOptions(task="t2c", cache_dir=tmp_path, extra={"subset": "apps", **extra}, **options)
    )


def test_hub_needs_a_subset(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"dataset\.subset=NAME"):
        load_coir(DatasetOptions(task="t2c", cache_dir=tmp_path))


def test_hub_reads_coirs_two_repositories_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = queries_corpus_layout("CoIR-Retrieval/apps", HUB_CORPUS, HUB_QUERIES, HUB_QRELS)
    asked = serve(monkeypatch, served)
    dataset = hub_load(tmp_path)
    assert asked == [
        ("CoIR-Retrieval/apps-queries-corpus", None, "corpus"),
        ("CoIR-Retrieval/apps-queries-corpus", None, "queries"),
        ("CoIR-Retrieval/apps-qrels", None, "test"),
    ]
    split = dataset.partitions["apps"].eval
    # the test qrels' positive queries, ranked against the whole corpus (a title joined)
    assert split.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    assert split.corpus == {
        "d1": "def f(): pass",
        "d2": "g def g(): return 1",
        "d3": "def h(): return 2",
    }
    assert dataset.meta["hub_layout"] == "queries-corpus" and dataset.meta["hub_attempts"] == {}
    assert dataset.meta["hub"]["qrels"]["resolved_revision"] == "sha-of-CoIR-Retrieval/apps-qrels"
    valid = hub_load(tmp_path, options={"split": "dev"}).partitions["apps"].eval
    assert asked[-1] == ("CoIR-Retrieval/apps-qrels", None, "valid")
    assert valid.qrels == {"q2": {"d2": 1}}


def test_hub_falls_back_to_one_repository_with_three_configs_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = single_layout("CoIR-Retrieval/apps", HUB_CORPUS, HUB_QUERIES, HUB_QRELS)
    asked = serve(monkeypatch, served)
    dataset = hub_load(tmp_path, revision="abc")
    assert asked == [
        ("CoIR-Retrieval/apps-queries-corpus", None, "corpus"),  # CoIR's layout, not served
        ("CoIR-Retrieval/apps", "corpus", "corpus"),
        ("CoIR-Retrieval/apps", "queries", "queries"),
        ("CoIR-Retrieval/apps", "default", "test"),
    ]
    assert dataset.partitions["apps"].eval.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    assert dataset.meta["hub_layout"] == "single"
    assert "apps-queries-corpus" in dataset.meta["hub_attempts"]["queries-corpus"]
    assert dataset.meta["hub"]["qrels"]["revision"] == "abc"
    asked.clear()
    hub_load(tmp_path, layout="single")
    assert [call[0] for call in asked] == ["CoIR-Retrieval/apps"] * 3


def test_hub_without_either_layout_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(monkeypatch, {})
    with pytest.raises(HarnessError) as raised:
        hub_load(tmp_path)
    message = str(raised.value)
    assert "layout queries-corpus:" in message and "layout single:" in message
    assert "put corpus.jsonl, queries.jsonl" in message
    served = single_layout("CoIR-Retrieval/apps", HUB_CORPUS, HUB_QUERIES, HUB_QRELS)
    serve(monkeypatch, served)
    with pytest.raises(HarnessError, match=r"layout queries-corpus: .*apps-queries-corpus"):
        hub_load(tmp_path, layout="queries-corpus")
    with pytest.raises(HarnessError, match=r"dataset\.layout='both' is not one of"):
        hub_load(tmp_path, layout="both")
