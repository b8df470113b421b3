"""The ``xlcost`` loader: program-level code-to-code search with every translation relevant.

The multi-relevant scores are checked against pytrec_eval (``recip_rank``,
``ndcg_cut_10``) on scores without ties, computed from hand-made embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.data import DatasetOptions, RetrievalDataset
from harness.errors import HarnessError, InputError
from harness.plugins.datasets.xlcost import is_present, load_xlcost
from harness.plugins.retrieval_eval import Retrieval
from harness.task_kind import EvaluationOptions

# Query language Python; program 1 has C++ and Java translations, program 2 only C++.
PYTHON_TEST = [
    {
        "idx": "1-Python/1-C++",
        "docstring_tokens": ["def", "f", "(", ")"],
        "code_tokens": ["int", "f"],
    },
    {
        "idx": "1-Python/1-Java",
        "docstring_tokens": ["def", "f", "(", ")"],
        "code_tokens": ["void", "f"],
    },
    {"idx": "2-Python/2-C++", "docstring_tokens": ["def", "g"], "code_tokens": ["int", "g"]},
]
PYTHON_TRAIN = [
    {"idx": "7-Python/7-C++", "docstring_tokens": ["def", "h"], "code_tokens": ["int", "h"]},
    {"idx": "7-Python/7-Java", "docstring_tokens": ["def", "h"], "code_tokens": ["void", "h"]},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def write_xlcost(root: Path, test: list[dict[str, Any]] | None = None) -> Path:
    write_jsonl(root / "Python" / "test.jsonl", PYTHON_TEST if test is None else test)
    write_jsonl(root / "Python" / "train.jsonl", PYTHON_TRAIN)
    write_jsonl(root / "C++" / "test.jsonl", [
        {"idx": "1-C++/1-Python", "docstring_tokens": ["int", "f"], "code_tokens": ["def", "f"]},
    ])  # fmt: skip
    return root


def load(root: Path, **kwargs: Any) -> RetrievalDataset:
    return load_xlcost(DatasetOptions(task="c2c", cache_dir=root, data_dir=root, **kwargs))


def test_program_protocol_every_translation_is_relevant(tmp_path: Path) -> None:
    dataset = load(write_xlcost(tmp_path / "xlcost"))
    assert sorted(dataset.partitions) == ["cpp", "python"]
    python = dataset.partitions["python"]
    assert python.eval.queries == {"1-Python": "def f ( )", "2-Python": "def g"}
    assert python.eval.corpus == {"1-C++": "int f", "1-Java": "void f", "2-C++": "int g"}
    assert python.eval.qrels == {"1-Python": {"1-C++": 1, "1-Java": 1}, "2-Python": {"2-C++": 1}}
    assert [(p.query, p.positive, p.group) for p in python.train] == [
        ("def h", "int h", "7"),
        ("def h", "void h", "7"),
    ]
    assert dataset.meta["protocol"] == "program"
    assert dataset.meta["sizes"] == {"cpp": [1, 1], "python": [2, 3]}


def test_pair_protocol_is_loracodes_one_target_per_line(tmp_path: Path) -> None:
    dataset = load(write_xlcost(tmp_path / "xlcost"), extra={"protocol": "pair"})
    python = dataset.partitions["python"]
    assert list(python.eval.queries) == ["1-Python/1-C++", "1-Python/1-Java", "2-Python/2-C++"]
    assert python.eval.qrels["1-Python/1-Java"] == {"1-Java": 1}
    assert dataset.meta["protocol"] == "pair"


class HandMadeEncoder:
    """Embeddings looked up by text, so every score is known in advance."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        return np.array([self.table[text] for text in texts], dtype=np.float32)


def test_mrr_counts_the_first_translation_and_ndcg_all_of_them(tmp_path: Path) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    python = load(write_xlcost(tmp_path / "xlcost")).partitions["python"].eval
    # query 1 scores: 2-C++ 0.9, 1-Java 0.6, 1-C++ 0.2; query 2: 2-C++ 0.7 first
    encoder = HandMadeEncoder(
        {
            "def f ( )": [1.0, 0.0],
            "def g": [0.0, 1.0],
            "int g": [0.9, 0.7],
            "void f": [0.6, 0.1],
            "int f": [0.2, 0.3],
        }
    )
    evaluation = Retrieval().evaluate(encoder, python, EvaluationOptions())
    got = {row["id"]: row for row in evaluation.per_example}
    scores = (
        encoder.encode(list(python.queries.values()))
        @ encoder.encode(list(python.corpus.values())).T
    )
    run = {
        qid: {doc: float(scores[i, j]) for j, doc in enumerate(python.corpus)}
        for i, qid in enumerate(python.queries)
    }
    reference = pytrec_eval.RelevanceEvaluator(
        python.qrels, {"recip_rank", "ndcg_cut_10"}
    ).evaluate(run)
    assert got["1-Python"]["mrr"] == pytest.approx(0.5)  # the first translation is 2nd
    for qid in python.queries:
        assert got[qid]["mrr"] == pytest.approx(reference[qid]["recip_rank"])
        assert got[qid]["ndcg@10"] == pytest.approx(reference[qid]["ndcg_cut_10"])
    one_relevant = (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert got["1-Python"]["ndcg@10"] == pytest.approx(one_relevant)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"idx": "1-Python", "docstring_tokens": [], "code_tokens": []}, r"idx '1-Python' is not"),
        ({"idx": "1-Python/1-C++", "docstring_tokens": "def f", "code_tokens": []},
         r"field 'docstring_tokens' must be a list of strings, not a string"),
        ({"idx": "1-Python/1-C++", "docstring_tokens": ["x"], "code_tokens": [1]},
         r"field 'code_tokens' must be a list of strings"),
        ({"idx": "1-Python/1-C++", "docstring_tokens": ["x"]}, r"missing field 'code_tokens'"),
        ({"idx": "1-Python/1-C++", "docstring_tokens": ["x"], "code_tokens": ["other"]},
         r"target '1-C\+\+' has another text than at line 1"),
        ({"idx": "1-Python/1-Java", "docstring_tokens": ["y"], "code_tokens": ["void", "f"]},
         r"query '1-Python' has another text than at line 1"),
    ],
)  # fmt: skip
def test_bad_lines_are_named_by_file_and_line(
    tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    first = {"idx": "1-Python/1-C++", "docstring_tokens": ["x"], "code_tokens": ["int", "f"]}
    root = write_xlcost(tmp_path / "xlcost", test=[first, row])
    with pytest.raises(InputError, match=rf"Python/test\.jsonl:2: {message}"):
        load(root, languages=["python"])


def test_missing_files_options_and_presence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_xlcost(tmp_path / "xlcost")
    assert is_present(root) and not is_present(tmp_path) and not is_present(None)
    with pytest.raises(InputError, match=r"Java/test\.jsonl: missing; put XLCoST_data/retrieval"):
        load(root, languages=["java"])
    with pytest.raises(InputError, match=r"no language folder with val\.jsonl"):
        load(root, split="valid")
    with pytest.raises(HarnessError, match=r"unknown protocol 'all' \(known: program, pair\)"):
        load(root, extra={"protocol": "all"})
    (root / "Python" / "test.jsonl").write_text("")
    with pytest.raises(InputError, match=r"Python/test\.jsonl: no queries in the test split"):
        load(root, languages=["python"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError, match=r"no hub copy under a known id.*program_level"):
        load_xlcost(DatasetOptions(task="c2c", cache_dir=tmp_path))
