"""`--model bm25` (issue 19, item 4): code-aware words, BM25 checked against a hand computation
and against bm25s's own retrieval, and the corpus-fitted model contract (harness.encoder.Retriever)
ranked by the dense path's tie rule."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import pytest
from conftest import NOUNS, WORDS
from test_cli_run import _csn_rows, _harness, _pessimistic_rank

import harness.plugins.retrieval_eval as retrieval_eval
from harness.data import RetrievalSplit
from harness.encoder import EncoderOptions, Retriever
from harness.errors import HarnessError
from harness.plugins.lexical.bm25 import BM25, build
from harness.plugins.lexical.code_words import CodeWords
from harness.plugins.retrieval_eval import Retrieval
from harness.results import read_examples, read_result
from harness.task_kind import EvaluationOptions

PLAIN = {"stopwords": "none", "stemmer": "none"}


def _bm25(**settings: object) -> BM25:
    return build(None, EncoderOptions(extra=dict(settings)))


def lucene_bm25(query: list[str], docs: list[list[str]], k1: float, b: float) -> list[float]:
    """Lucene's BM25, written out: sum over the query's words (repeats count again) of
    ln(1 + (N - df + 0.5) / (df + 0.5)) * tf / (tf + k1 (1 - b + b |d| / avgdl))."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = Counter(word for doc in docs for word in set(doc))
    scores = []
    for doc in docs:
        tf = Counter(doc)
        total = 0.0
        for word in query:
            if tf[word]:
                idf = math.log(1 + (n - df[word] + 0.5) / (df[word] + 0.5))
                total += idf * tf[word] / (tf[word] + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(total)
    return scores


# --- words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("getUserName", ["get", "user", "name", "getusername"]),
        ("read_file_v2", ["read", "file", "v", "2", "read_file_v2"]),
        ("HTTPServer", ["http", "server", "httpserver"]),
        ("base64Encode", ["base", "64", "encode", "base64encode"]),
        ("IOError", ["io", "error", "ioerror"]),
        ("x = 42 + y", ["x", "42", "y"]),
        ("parse", ["parse"]),  # one part: no second, whole copy
        ("os.path.join(a, b)", ["os", "path", "join", "a", "b"]),
        ("__init__", ["init"]),
        ("Écrire_Fichier", ["écrire", "fichier", "écrire_fichier"]),
    ],
)
def test_words_split_identifiers_and_keep_them_whole(text: str, words: list[str]):
    assert CodeWords(**PLAIN)(text) == words


def test_identifiers_can_be_left_whole():
    words = CodeWords(split_identifiers=False)
    assert words("getUserNames read_files") == ["getusernam", "read_fil"]
    model = _bm25(split_identifiers=False)
    assert model.words("getUserNames") == ["getusernam"]
    assert "whole" not in model.info["words"] and "parts" in _bm25().info["words"]


def test_stop_words_are_dropped_and_parts_stemmed_but_not_whole_identifiers():
    words = CodeWords()  # the defaults: English stop words, Snowball English stemmer
    assert words("Sort the list of items") == ["sort", "list", "item"]
    assert words("sortedItems is_empty") == ["sort", "item", "sorteditems", "empti", "is_empty"]
    assert CodeWords(stopwords="en", stemmer="none")("the sortedItems") == [
        "sorted",
        "items",
        "sorteditems",
    ]


# --- scores --------------------------------------------------------------------------------

TOY = [
    "read file file lines",
    "write file",
    "parse json string json json",
    "read json file from path",
    "sort list",
]
TOY_QUERIES = ["read file", "json json path", "sort list list", "nothing here"]


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.3), (0.0, 0.5), (2.0, 1.0), (0.9, 0.0)])
def test_scores_equal_a_hand_computation(k1: float, b: float):
    model = _bm25(k1=k1, b=b, **PLAIN)
    model.index(TOY)
    got = model.score(TOY_QUERIES)
    assert got.dtype == np.float32 and got.shape == (len(TOY_QUERIES), len(TOY))
    docs = [text.split() for text in TOY]
    for row, query in enumerate(TOY_QUERIES):
        want = lucene_bm25(query.split(), docs, k1, b)
        assert max(want) < 8  # float32 scores of this size are within 1e-6
        assert got[row] == pytest.approx(want, abs=1e-6), query
    assert not got[-1].any()  # no word of the corpus: every score 0


def test_k1_and_b_reach_the_scorer():
    docs = [text.split() for text in TOY]
    by_setting = {}
    for k1, b in ((1.5, 0.75), (0.5, 0.75), (1.5, 0.1)):
        model = _bm25(k1=k1, b=b, **PLAIN)
        model.index(TOY)
        by_setting[k1, b] = model.score(["read file"])[0]
        assert by_setting[k1, b] == pytest.approx(lucene_bm25(["read", "file"], docs, k1, b))
    assert len({tuple(np.round(v, 6)) for v in by_setting.values()}) == 3
    assert _bm25(k1=0.5).info["k1"] == 0.5 and _bm25(b=0.1).info["b"] == 0.1


def test_scores_equal_bm25s_retrieval_on_the_same_words(code_tree: Path):
    words = CodeWords()
    texts = [p.read_text() for p in sorted(code_tree.rglob("*.*"))]
    queries = ["parse the file number 3", "hash a token buffer", "rotate matrix with size"]
    model = _bm25()
    model.index(texts)
    got = model.score(queries)
    reference = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    reference.index([words(t) for t in texts], show_progress=False)
    docs, scores = reference.retrieve(
        [words(q) for q in queries], k=len(texts), show_progress=False, n_threads=1
    )
    for row in range(len(queries)):
        assert got[row][docs[row]] == pytest.approx(scores[row], abs=1e-6)
    assert model.info["variant"] == "lucene" and model.info["library"].startswith("bm25s ")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("k1", -0.5, "--set encoder.k1=-0.5: expected a finite number >= 0"),
        ("k1", float("inf"), "--set encoder.k1=inf: expected a finite number >= 0"),
        ("k1", "high", "--set encoder.k1='high': expected a finite number >= 0"),
        ("b", 1.5, "--set encoder.b=1.5: expected a finite number from 0 to 1"),
        ("b", float("nan"), "--set encoder.b=nan: expected a finite number from 0 to 1"),
        ("b", True, "--set encoder.b=True: expected a finite number from 0 to 1"),
        ("method", "okapi", "--set encoder.method='okapi': expected one of lucene, robertson"),
        ("stemmer", "klingon", "--set encoder.stemmer='klingon': not a Snowball stemmer"),
        ("split_identifiers", "yes", "--set encoder.split_identifiers='yes': expected true"),
    ],
)
def test_bad_settings_are_one_line_errors(setting: str, value: object, message: str):
    with pytest.raises(HarnessError) as raised:
        _bm25(**{setting: value})
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_other_variants_are_bm25s_own():
    docs = [text.split() for text in TOY]
    for method in ("robertson", "atire", "bm25l", "bm25+"):
        model = _bm25(method=method, **PLAIN)
        model.index(TOY)
        reference = bm25s.BM25(method=method)
        reference.index(docs, show_progress=False)
        want = reference.get_scores(["json", "path"])
        assert model.score(["json path"])[0] == pytest.approx(want, abs=1e-6)
        assert model.info["variant"] == method


# --- the corpus-fitted contract: same tie rule, chunks and pools as the dense path ----------

EPS_TIE = 2.0**-21  # below the 1e-6 tie tolerance: a tie
EPS_APART = 2.0**-19  # above it: not a tie
# one-hot queries pick one coordinate of a document: every score is exact in float32
DOCS = np.array(
    [
        [1.0, 0.0, 0.5, 0.25],
        [1.0, 0.5, 0.5, 0.25],  # ties d0 for q0 (exactly)
        [1.0 - EPS_TIE, 0.25, 0.5, 0.0],  # ties d0 for q0 (within the tolerance)
        [1.0 - EPS_APART, 1.0, 0.5, 0.5],  # just below d0 for q0
        [0.5, 1.0, 0.5, 0.75],
        [0.25, 0.0, 0.5, 0.75],
    ],
    dtype=np.float32,
)
QUERIES = np.eye(4, dtype=np.float32)
# q0: gold d0, tied with d1 exactly and d2 within tolerance -> rank 3
# q1: golds d4 (1.0, tied with d3) and d1 (0.5, below d3 only) -> ranks 2 and 3
# q2: every document scores 0.5 (a constant scorer) -> the worst rank, 6
# q3: gold d5 at 0.75, tied with d4 -> rank 2
QRELS = {"q0": {"d0": 1}, "q1": {"d1": 1, "d4": 1}, "q2": {"d3": 1}, "q3": {"d5": 1}}
EXPECTED = {"q0": [3], "q1": [2, 3], "q2": [6], "q3": [2]}


class _Table:
    """Texts are row names: 'q2' is QUERIES[2], 'd4' is DOCS[4]."""

    @staticmethod
    def rows(texts: list[str]) -> np.ndarray:
        return np.stack([(QUERIES if t[0] == "q" else DOCS)[int(t[1:])] for t in texts])


class DenseTable(_Table):
    name, dim, info = "table", 4, {"model": "table"}

    def encode(self, texts, *, role="code", description=""):
        return self.rows(list(texts))


class FittedTable(_Table):
    """A corpus-fitted model whose scores are the dense dot products. It could also
    `encode` (constant rows, with a fingerprint the embedding cache would key): a model
    with `index` and `score` is scored as a retriever all the same."""

    name, dim, info = "fitted-table", 4, {"model": "fitted-table"}

    def encode(self, texts, *, role="code", description=""):
        return np.ones((len(texts), 4), dtype=np.float32)

    def fingerprint(self):
        return "fitted-table-1"

    def __init__(self) -> None:
        self.indexed: list[list[str]] = []
        self.blocks: list[int] = []

    def index(self, corpus):
        self.indexed.append(list(corpus))

    def score(self, queries, *, role="query"):
        self.blocks.append(len(queries))
        return self.rows(list(queries)) @ self.rows(self.indexed[-1]).T


def _split(pools: bool = False) -> RetrievalSplit:
    split = RetrievalSplit(
        queries={q: q for q in QRELS},
        corpus={f"d{i}": f"d{i}" for i in range(len(DOCS))},
        qrels=QRELS,
    )
    if pools:  # q0, q2 against d0-d3; q1, q3 against d1, d3-d5
        split.query_pool = {"q0": "a", "q2": "a", "q1": "b", "q3": "b"}
        split.corpus_pool = {"d0": "a", "d2": "a", "d3": "a", "d1": "b", "d4": "b", "d5": "b"}
    return split


def _ranks(evaluation) -> dict[str, float]:
    return {row["id"]: row["mrr"] for row in evaluation.per_example}


def test_a_fitted_model_is_ranked_as_the_dense_path_ranks_ties(tmp_path: Path, monkeypatch):
    assert isinstance(FittedTable(), Retriever) and not isinstance(DenseTable(), Retriever)
    dense = Retrieval().evaluate(DenseTable(), _split(), EvaluationOptions())
    # blocks of at most QUERY_BLOCK x corpus_chunk_size scores: 2 queries x 6 documents
    monkeypatch.setattr(retrieval_eval, "QUERY_BLOCK", 2)
    fitted_model = FittedTable()
    options = EvaluationOptions(corpus_chunk_size=6, embedding_cache=tmp_path / "embeddings")
    fitted = Retrieval().evaluate(fitted_model, _split(), options)
    assert fitted.per_example == dense.per_example
    assert _ranks(fitted) == {q: 1 / r[0] for q, r in EXPECTED.items()}
    recall = {row["id"]: row["recall@5"] for row in fitted.per_example}
    assert recall["q1"] == 1.0 and recall["q2"] == 0.0
    assert fitted_model.blocks == [2, 2] and fitted_model.indexed == [list(_split().corpus)]
    assert set(fitted.timings) == {"index_corpus_s", "score_queries_s", "rank_s"}
    assert not (tmp_path / "embeddings").exists()  # the embedding cache never wraps it


def test_a_fitted_model_is_indexed_on_each_pool_it_ranks():
    dense = Retrieval().evaluate(DenseTable(), _split(pools=True), EvaluationOptions())
    model = FittedTable()
    fitted = Retrieval().evaluate(model, _split(pools=True), EvaluationOptions())
    assert fitted.per_example == dense.per_example
    assert model.indexed == [["d0", "d2", "d3"], ["d1", "d4", "d5"]]
    # q0 in pool a: d0 ties d2 only (d1 is in pool b) -> rank 2
    assert _ranks(fitted)["q0"] == 1 / 2 and fitted.n_candidates == 3


def test_a_matrix_shares_a_fitted_model_as_it_is():
    """A matrix run wraps a base model its strategy leaves unchanged (harness.sharing); a
    wrapped retriever is still indexed and scored, not encoded."""
    from harness.sharing import MemoizedEncoder

    model = FittedTable()
    shared = Retrieval().evaluate(MemoizedEncoder(model, {}), _split(), EvaluationOptions())
    assert (
        shared.per_example
        == Retrieval().evaluate(DenseTable(), _split(), EvaluationOptions()).per_example
    )
    assert model.indexed == [list(_split().corpus)]


def test_a_fitted_model_that_returns_a_bad_score_is_named():
    class Broken(FittedTable):
        def score(self, queries, *, role="query"):
            out = super().score(queries, role=role)
            out[-1, 0] = np.nan
            return out

    with pytest.raises(HarnessError, match="NaN or infinite score for query 'q3'"):
        Retrieval().evaluate(Broken(), _split(), EvaluationOptions())


# --- harness run ---------------------------------------------------------------------------


def _mixed_tree(root: Path) -> Path:
    """Python functions whose docs share words with other functions (BM25 misses some)."""
    for i in range(48):
        verb, noun = WORDS[i % 4], NOUNS[i // 4 % 3]
        other, thing = WORDS[(i * 3 + 1) % 5], NOUNS[i % 3]
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"m{i:02d}.py").write_text(
            f"def {verb}{noun.title()}{i}(value, {thing}List):\n"
            f'    """{other.title()} the {thing} and {verb} the given {noun}s."""\n'
            f"    result = {other}_{thing}(value)\n"
            f"    result = result + len({thing}List)\n"
            f"    return result\n"
        )
    return root


def _run_args(code_tree: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "run", "--model", "bm25", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
        "--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0", *extra,
    ]  # fmt: skip


def test_harness_run_bm25_matches_a_hand_computation(tmp_path: Path):
    tree = _mixed_tree(tmp_path / "tree")
    out = _harness(*_run_args(tree, tmp_path, "--set", "encoder.k1=1.2", "--json"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert {row["partition"] for row in json.loads(out.stdout)} == {"python"}
    words = CodeWords()
    seen = set()
    for language in ("python",):
        result_file = next((tmp_path / "results").rglob(f"{language}.json"))
        result = read_result(result_file)
        assert result.config["encoder_info"]["k1"] == 1.2
        assert result.config["encoder_info"]["variant"] == "lucene"
        rows = {row["id"]: row for row in read_examples(result_file)}
        pairs = _csn_rows(tmp_path / "cache", language)
        docs = [words(p["code"]) for p in pairs]
        for i, pair in enumerate(pairs):
            scores = np.array(lucene_bm25(words(pair["docstring"]), docs, 1.2, 0.75))
            rank = _pessimistic_rank(scores, i)
            assert rows[pair["url"]]["rank"] == rank, pair["url"]
            assert rows[pair["url"]]["mrr"] == pytest.approx(1 / rank)
            seen.add(rank)
    assert max(seen) > 1  # not every query at rank 1
    assert not (tmp_path / "cache" / "embeddings").exists()


def test_bad_k1_is_a_one_line_error_and_nothing_is_written(code_tree: Path, tmp_path: Path):
    out = _harness(*_run_args(code_tree, tmp_path, "--set", "encoder.k1=-1"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "harness: error: --set encoder.k1=-1: expected a finite number >= 0"
    )
    assert not list((tmp_path / "results").rglob("*.json"))


def test_a_strategy_that_trains_the_model_refuses_bm25_before_reading_data(
    code_tree: Path, tmp_path: Path
):
    for strategy in ("taskwise", "langwise"):
        out = _harness(*_run_args(code_tree, tmp_path, "--strategy", strategy), cwd=tmp_path)
        assert out.returncode == 2
        assert out.stderr.strip() == (
            f"harness: error: strategy {strategy!r} trains the model's weights; model 'bm25' "
            "has none (registered trainable=False): pick a strategy that scores the model "
            "as it is"
        )
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()


def test_the_documented_retriever_runs_as_written():
    """docs/plugins.md's retriever example, executed, ranked by the task kind."""
    import re

    from harness.hookspecs import hookimpl

    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", docs, flags=re.DOTALL)
                  if "class WordOverlap" in b]  # fmt: skip
    namespace: dict = {"hookimpl": hookimpl}
    exec(compile(example, "docs/plugins.md", "exec"), namespace)
    registered: list = []
    namespace["harness_register_encoders"](lambda *a, **meta: registered.append((a, meta)))
    ((name, build_model, _), meta) = registered[0]
    assert name == "word-overlap" and meta["trainable"] is False
    model = build_model(None, EncoderOptions())
    assert isinstance(model, Retriever)
    split = RetrievalSplit(
        queries={"a": "read a file", "b": "sort the list"},
        corpus={"x": "def read(file): pass", "y": "read file fast", "z": "sort list the"},
        qrels={"a": {"y": 1}, "b": {"z": 1}},
    )
    rows = Retrieval().evaluate(model, split, EvaluationOptions()).per_example
    # a: y holds 2 of 3 words, x ("read(file):" is one word) none -> 1; b: z holds all -> 1
    assert [row["rank"] for row in rows] == [1, 1]
