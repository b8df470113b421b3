"""Ranking metrics: the pessimistic tie rule, hand-computed values, pytrec_eval agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.metrics import (
    RANKING_METRICS,
    mean_metrics,
    query_metrics,
    ranks_from_scores,
    relevant_ranks,
)

# --- the tie rule, by hand ----------------------------------------------------


@pytest.mark.parametrize(("gold", "rank"), [(0, 1), (1, 3), (2, 3), (3, 4)])
def test_an_irrelevant_candidate_tied_with_the_gold_ranks_ahead_of_it(gold: int, rank: int) -> None:
    assert ranks_from_scores([0.9, 0.5, 0.5, 0.1], [gold]).tolist() == [rank]


def test_relevant_documents_tied_with_each_other_take_consecutive_ranks_after_tied_irrelevant():
    # Order, worst case: 0.9 (irrelevant), 0.5 (irrelevant, index 2), then both relevant.
    assert ranks_from_scores([0.5, 0.5, 0.5, 0.9], [0, 1]).tolist() == [3, 4]


def test_a_constant_score_vector_gives_the_worst_ranks() -> None:
    scores = np.full(7, 0.3)
    assert ranks_from_scores(scores, [0]).tolist() == [7]
    assert ranks_from_scores(scores, [6, 0]).tolist() == [6, 7]
    assert query_metrics(ranks_from_scores(scores, [0]))["mrr"] == pytest.approx(1 / 7)


def test_scores_within_the_tie_tolerance_count_as_tied() -> None:
    assert ranks_from_scores([0.5 + 5e-7, 0.5], [0]).tolist() == [2]
    assert ranks_from_scores([0.5 + 5e-7, 0.5], [0], tie_tolerance=0.0).tolist() == [1]
    assert ranks_from_scores([0.5 + 1e-5, 0.5], [0]).tolist() == [1]


def test_duplicate_and_unordered_relevant_indices_are_one_set() -> None:
    assert ranks_from_scores([0.1, 0.9, 0.5], [2, 1, 2]).tolist() == [1, 2]


# --- per-query metrics, by hand -----------------------------------------------

# 13 candidates; relevant: 1 (after one irrelevant), 4 (tied with irrelevant 5,
# so after 0, 2, 3 and 5) and 11 (after all nine irrelevant scoring >= 0.2).
MULTI_SCORES = [0.95, 0.9, 0.8, 0.7, 0.6, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.2, 0.1]
MULTI_RELEVANT = [1, 4, 11]


def test_multi_relevant_ranks_and_metrics_by_hand() -> None:
    ranks = ranks_from_scores(MULTI_SCORES, MULTI_RELEVANT)
    assert ranks.tolist() == [2, 6, 12]
    metrics = query_metrics(ranks)
    # DCG = 1/log2(3) + 1/log2(7) = 0.98714; IDCG (3 relevant) = 1 + 1/log2(3) + 1/2 = 2.13093
    assert metrics["ndcg@10"] == pytest.approx(0.463242, abs=1e-6)
    assert metrics["mrr"] == metrics["mrr@10"] == 0.5
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@5"] == pytest.approx(1 / 3)
    assert metrics["recall@10"] == pytest.approx(2 / 3)
    assert metrics["rank"] == 2.0


def test_a_first_rank_past_ten_scores_zero_at_cutoff_ten_but_counts_in_full_mrr() -> None:
    metrics = query_metrics(np.array([11]))
    assert metrics["mrr"] == pytest.approx(1 / 11)
    assert metrics["mrr@10"] == metrics["ndcg@10"] == metrics["recall@10"] == 0.0
    assert metrics["rank"] == 11.0


def test_rank_ten_is_inside_the_cutoff() -> None:
    metrics = query_metrics([10])
    assert metrics["mrr@10"] == pytest.approx(0.1)
    assert metrics["ndcg@10"] == pytest.approx(1 / math.log2(11))
    assert (metrics["recall@5"], metrics["recall@10"]) == (0.0, 1.0)


def test_relevant_documents_missing_from_the_ranking_count_as_not_found() -> None:
    metrics = query_metrics([1], n_relevant=2)
    assert metrics["recall@1"] == 0.5
    assert metrics["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))  # 0.61315
    assert metrics["mrr"] == 1.0


def test_ideal_dcg_stops_at_ten_relevant() -> None:
    metrics = query_metrics(np.arange(1, 13))
    assert metrics["ndcg@10"] == pytest.approx(1.0)
    assert metrics["recall@10"] == pytest.approx(10 / 12)


def test_query_metrics_reports_every_ranking_metric_and_the_rank() -> None:
    assert set(query_metrics([3])) == {*RANKING_METRICS, "rank"}


def test_mean_metrics_averages_per_query_values() -> None:
    rows = [query_metrics([1]), query_metrics([2]), query_metrics([20])]
    assert mean_metrics(rows)["mrr"] == pytest.approx((1 + 0.5 + 0.05) / 3)
    assert mean_metrics(rows, ["recall@1"]) == {"recall@1": pytest.approx(1 / 3)}


@pytest.mark.parametrize(
    ("ranks", "n_relevant"), [([], None), ([], 0), ([1, 2], 1), ([0], None), ([2, 2], None)]
)
def test_query_metrics_rejects_impossible_ranks(ranks: list[int], n_relevant: int | None) -> None:
    with pytest.raises(HarnessError):
        query_metrics(ranks, n_relevant)


# --- agreement with pytrec_eval on data without ties ---------------------------


@pytest.mark.parametrize("max_relevant", [1, 6])
def test_agrees_with_pytrec_eval_without_ties(max_relevant: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(max_relevant)
    n_queries, n_docs = 40, 60
    scores = rng.random((n_queries, n_docs))  # continuous: no ties
    relevant = [
        rng.choice(n_docs, size=rng.integers(1, max_relevant + 1), replace=False)
        for _ in range(n_queries)
    ]
    qrels = {f"q{i}": {f"d{j}": 1 for j in rel} for i, rel in enumerate(relevant)}
    run = {f"q{i}": {f"d{j}": float(s) for j, s in enumerate(row)} for i, row in enumerate(scores)}
    measures = {"recip_rank", "ndcg_cut_10", "recall_5", "recall_10"}
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for i, rel in enumerate(relevant):
        ours = query_metrics(ranks_from_scores(scores[i], rel))
        theirs = reference[f"q{i}"]
        assert ours["mrr"] == pytest.approx(theirs["recip_rank"], abs=1e-6)
        assert ours["ndcg@10"] == pytest.approx(theirs["ndcg_cut_10"], abs=1e-6)
        assert ours["recall@5"] == pytest.approx(theirs["recall_5"], abs=1e-6)
        assert ours["recall@10"] == pytest.approx(theirs["recall_10"], abs=1e-6)


def test_pytrec_eval_rewards_a_constant_scorer_and_we_do_not() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels = {"q": {"d9": 1}}
    run = {"q": {f"d{j}": 0.5 for j in range(10)}}
    reference = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)
    assert reference["q"]["recip_rank"] == 1.0  # ties broken by document id
    assert query_metrics(ranks_from_scores(np.full(10, 0.5), [9]))["mrr"] == pytest.approx(0.1)


# --- relevant_ranks: chunked, from embeddings ----------------------------------


def _small_integer_embeddings(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    # Multiples of 1/4: every dot product is exact in float32, so ties are exact.
    return (rng.integers(-2, 3, size=(n, dim)) / 4).astype(np.float32)


def _full_matrix_ranks(
    queries: np.ndarray, corpus: np.ndarray, relevant, tie_tolerance: float = 1e-6
) -> list[list[int]]:
    scores = queries.astype(np.float64) @ corpus.astype(np.float64).T
    return [
        ranks_from_scores(scores[i], rel, tie_tolerance=tie_tolerance).tolist()
        for i, rel in enumerate(relevant)
    ]


@pytest.mark.parametrize("tie_tolerance", [0.0, 1e-6])
@pytest.mark.parametrize(("chunk_size", "query_chunk_size"), [(7, 3), (17, 5), (1, 1), (500, 500)])
def test_chunked_ranks_equal_full_matrix_ranks_with_ties(
    chunk_size: int, query_chunk_size: int, tie_tolerance: float
) -> None:
    rng = np.random.default_rng(0)
    queries = _small_integer_embeddings(rng, 23, 6)
    corpus = _small_integer_embeddings(rng, 101, 6)
    corpus[50:60] = corpus[0:10]  # exact duplicates, some of them relevant
    relevant = [rng.choice(101, size=rng.integers(0, 5), replace=False) for _ in range(23)]
    relevant[0] = np.array([0, 50])  # a relevant document and its duplicate
    relevant[1] = np.array([3])  # its duplicate (53) is irrelevant and must rank ahead
    got = relevant_ranks(
        queries,
        corpus,
        relevant,
        chunk_size=chunk_size,
        query_chunk_size=query_chunk_size,
        tie_tolerance=tie_tolerance,
    )
    expected = _full_matrix_ranks(queries, corpus, relevant, tie_tolerance)
    assert [r.tolist() for r in got] == expected
    assert sum(len(r) for r in got) > 23  # multi-relevant queries were exercised
    assert any(len(r) == 0 for r in relevant)


def test_a_block_with_as_many_relevant_documents_as_queries_but_not_one_each() -> None:
    rng = np.random.default_rng(5)
    queries = _small_integer_embeddings(rng, 3, 4)
    corpus = _small_integer_embeddings(rng, 40, 4)
    relevant = [[0, 1], [], [2]]
    got = relevant_ranks(queries, corpus, relevant, chunk_size=16)
    assert [r.tolist() for r in got] == _full_matrix_ranks(queries, corpus, relevant)


def test_chunked_ranks_equal_full_matrix_ranks_on_unit_vectors() -> None:
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((30, 16)).astype(np.float32)
    corpus = rng.standard_normal((97, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    relevant = [[i, (i * 7) % 97] for i in range(30)]
    got = relevant_ranks(queries, corpus, relevant, chunk_size=10, query_chunk_size=4)
    assert [r.tolist() for r in got] == _full_matrix_ranks(queries, corpus, relevant)


@pytest.mark.parametrize("chunk_size", [1000, 64, 333])
def test_a_constant_scorer_is_no_better_than_chance(chunk_size: int) -> None:
    rng = np.random.default_rng(2)
    vector = rng.standard_normal(384).astype(np.float32)
    vector /= np.linalg.norm(vector)
    n_corpus = 1000
    corpus = np.tile(vector, (n_corpus, 1))
    queries = np.tile(vector, (5, 1))
    relevant = [[0], [999], [500], [1, 2], [998, 999]]
    got = relevant_ranks(queries, corpus, relevant, chunk_size=chunk_size, query_chunk_size=2)
    assert [r.tolist() for r in got] == [[1000], [1000], [1000], [999, 1000], [999, 1000]]
    assert query_metrics(got[0])["mrr"] == pytest.approx(1 / n_corpus)


def test_a_random_unit_vector_query_against_a_constant_corpus_gets_the_worst_rank() -> None:
    rng = np.random.default_rng(3)
    corpus = np.tile(rng.standard_normal(384).astype(np.float32), (257, 1))
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = rng.standard_normal((9, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    got = relevant_ranks(queries, corpus, [[i * 20] for i in range(9)], chunk_size=100)
    assert [r.tolist() for r in got] == [[257]] * 9


def test_a_well_separated_gold_ranks_first_and_a_tied_one_last() -> None:
    corpus = np.eye(4, dtype=np.float32)
    queries = np.array([[0.1, 0.9, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    got = relevant_ranks(queries, corpus, [[1], [3, 0]], chunk_size=3)
    # Query 1 scores 0 for documents 0, 1 and 2: the irrelevant 1 and 2 tie document 0.
    assert [r.tolist() for r in got] == [[1], [1, 4]]


class _FakeTensor:
    """What relevant_ranks uses of a torch tensor, so the fast tests need no torch."""

    def __init__(self, values: np.ndarray, dtype: str) -> None:
        self.values, self.dtype = values, dtype

    def detach(self) -> _FakeTensor:
        return self

    def cpu(self) -> _FakeTensor:
        return self

    def is_floating_point(self) -> bool:
        return True

    def float(self) -> _FakeTensor:
        return _FakeTensor(self.values.astype(np.float32), "torch.float32")

    def numpy(self) -> np.ndarray:
        if self.dtype not in ("torch.float32", "torch.float64"):
            raise TypeError("no numpy twin for " + self.dtype)
        return self.values


def test_relevant_ranks_accepts_tensor_like_inputs() -> None:
    corpus = _FakeTensor(np.eye(3), "torch.bfloat16")
    queries = _FakeTensor(np.array([[0.2, 0.7, 0.1]]), "torch.float64")
    assert [r.tolist() for r in relevant_ranks(queries, corpus, [[0]])] == [[2]]


@pytest.mark.slow  # importing torch takes seconds
def test_relevant_ranks_accepts_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    corpus = torch.eye(3, dtype=torch.bfloat16)
    queries = torch.tensor([[0.2, 0.7, 0.1]])
    assert [r.tolist() for r in relevant_ranks(queries, corpus, [[0]])] == [[2]]


@pytest.mark.parametrize(
    ("queries", "corpus", "relevant"),
    [
        (np.ones((1, 3)), np.ones((2, 3)), [[2]]),  # index out of range
        (np.ones((1, 3)), np.ones((2, 3)), [[-1]]),
        (np.ones((1, 4)), np.ones((2, 3)), [[0]]),  # dimensions differ
        (np.ones((2, 3)), np.ones((2, 3)), [[0]]),  # one relevance list short
        (np.ones(3), np.ones((2, 3)), [[0]]),  # not a matrix
        (np.full((1, 3), np.nan), np.ones((2, 3)), [[0]]),
    ],
)
def test_relevant_ranks_rejects_bad_input(queries, corpus, relevant) -> None:
    with pytest.raises(HarnessError):
        relevant_ranks(queries, corpus, relevant)


# --- properties -----------------------------------------------------------------

score_lists = st.lists(st.integers(0, 4), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(score_lists, st.data())
def test_ranks_are_the_positions_when_ties_put_relevant_documents_last(scores, data) -> None:
    relevant = data.draw(st.sets(st.integers(0, len(scores) - 1), min_size=1))
    is_relevant = np.isin(np.arange(len(scores)), sorted(relevant))
    # Second method: sort by score descending, relevant after irrelevant among ties.
    order = np.lexsort((is_relevant, -np.asarray(scores)))
    expected = np.flatnonzero(is_relevant[order]) + 1
    assert ranks_from_scores(scores, sorted(relevant)).tolist() == expected.tolist()


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32 - 1), st.data())
def test_metrics_lie_in_unit_interval_and_ignore_candidate_order(n_docs, seed, data) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.permutation(n_docs) / n_docs  # distinct scores
    relevant = sorted(data.draw(st.sets(st.integers(0, n_docs - 1), min_size=1)))
    metrics = query_metrics(ranks_from_scores(scores, relevant))
    assert all(0.0 <= metrics[name] <= 1.0 for name in RANKING_METRICS)
    perm = rng.permutation(n_docs)  # candidate i moves to position where(perm == i)
    moved = [int(np.flatnonzero(perm == i)[0]) for i in relevant]
    assert query_metrics(ranks_from_scores(scores[perm], moved)) == metrics
