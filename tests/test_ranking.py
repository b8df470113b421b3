"""Chunked rank counting (harness.ranking): the bf16 screen and the exact path give the
full-matrix pessimistic ranks, and memory holds one score block at a time."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from harness import ranking
from harness.metrics import query_metrics, ranks_from_scores, relevant_ranks


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _full_matrix_ranks(queries, corpus, relevant, tie_tolerance=1e-6) -> list[list[int]]:
    scores = queries @ corpus.T  # float32, the whole matrix
    return [
        ranks_from_scores(scores[i], rel, tie_tolerance=tie_tolerance).tolist()
        for i, rel in enumerate(relevant)
    ]


def _retrieval_like(seed: int, n_queries: int, n_corpus: int, dim: int, noise: float):
    """Queries near their gold document, some duplicated documents, a few multi-relevant."""
    rng = np.random.default_rng(seed)
    corpus = _unit(rng, n_corpus, dim)
    corpus[-20:] = corpus[:20]  # exact duplicates of golds: they tie and rank ahead
    gold = rng.integers(0, n_corpus, n_queries)
    gold[:20] = np.arange(20)
    queries = corpus[gold] + noise * rng.standard_normal((n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    relevant = [[int(g)] for g in gold]
    relevant[3] = [3, n_corpus - 17]  # a gold and its duplicate, both relevant
    relevant[5] = [5, 9, 11]
    return queries.astype(np.float32), corpus, relevant


@pytest.mark.parametrize("screen", [False, True])
@pytest.mark.parametrize(("chunk_size", "query_chunk_size"), [(97, 13), (1000, 64), (31, 7)])
@pytest.mark.parametrize("noise", [0.02, 0.3, 3.0])  # gold near the top ... gold anywhere
def test_chunked_ranks_equal_full_matrix_ranks(screen, chunk_size, query_chunk_size, noise):
    queries, corpus, relevant = _retrieval_like(0, 60, 800, 48, noise)
    got = relevant_ranks(queries, corpus, relevant, chunk_size=chunk_size,
                         query_chunk_size=query_chunk_size, screen=screen)  # fmt: skip
    assert [r.tolist() for r in got] == _full_matrix_ranks(queries, corpus, relevant)


@pytest.mark.parametrize("screen", [False, True])
def test_duplicates_of_a_gold_rank_ahead_of_it_on_both_paths(screen: bool) -> None:
    queries, corpus, relevant = _retrieval_like(1, 30, 500, 64, 0.05)
    got = relevant_ranks(queries, corpus, relevant, chunk_size=128, screen=screen)
    duplicate_of = {i: len(corpus) - 20 + i for i in range(20)}
    for query in (0, 1, 2, 4, 6):  # gold = document `query`, whose duplicate is irrelevant
        assert duplicate_of[query] not in relevant[query]
        assert got[query][0] >= 2
    assert got[3][1] == got[3][0] + 1  # a gold and its duplicate, both relevant: consecutive


@pytest.mark.parametrize("screen", [False, True])
def test_a_constant_scorer_gets_the_worst_rank_on_both_paths(screen: bool) -> None:
    vector = _unit(np.random.default_rng(2), 1, 384)[0]
    corpus, queries = np.tile(vector, (1000, 1)), np.tile(vector, (5, 1))
    relevant = [[0], [999], [500], [1, 2], [998, 999]]
    got = relevant_ranks(queries, corpus, relevant, chunk_size=333, query_chunk_size=2,
                         screen=screen)  # fmt: skip
    assert [r.tolist() for r in got] == [[1000], [1000], [1000], [999, 1000], [999, 1000]]


def test_the_screen_scores_every_block_in_bf16_when_golds_stand_out() -> None:
    queries, corpus, relevant = _retrieval_like(3, 64, 4000, 64, 0.01)
    kinds: list[str] = []
    got = relevant_ranks(queries, corpus, relevant, chunk_size=500, query_chunk_size=32,
                         screen=True, on_block=lambda kind, shape: kinds.append(kind))  # fmt: skip
    assert [r.tolist() for r in got] == _full_matrix_ranks(queries, corpus, relevant)
    assert kinds.count("bf16") == 8 * 2  # every block screened ...
    assert kinds.count("exact") <= 2  # ... rescored only where query 5's far golds widen bands


def test_a_broken_bound_is_caught_and_everything_is_counted_exactly(monkeypatch) -> None:
    queries, corpus, relevant = _retrieval_like(4, 40, 600, 48, 0.5)

    def reckless(self, rows, local_query, thresholds):  # every candidate "certainly" above
        low = np.full(len(local_query), -32000, dtype=np.int16)
        return low, low.copy(), True

    monkeypatch.setattr(ranking._Bf16Screen, "bounds", reckless)
    kinds: list[str] = []
    got = relevant_ranks(queries, corpus, relevant, chunk_size=100, screen=True,
                         on_block=lambda kind, shape: kinds.append(kind))  # fmt: skip
    assert [r.tolist() for r in got] == _full_matrix_ranks(queries, corpus, relevant)
    assert kinds[0] == "bf16" and kinds.count("exact") == 6  # the rerun, exactly


def test_bf16_keys_order_scores_like_the_scores() -> None:
    torch = pytest.importorskip("torch")
    values = np.sort(np.random.default_rng(5).normal(0, 0.5, 2000).astype(np.float32))
    values = np.concatenate([values, [-0.0, 0.0, 1e-30, -1e-30]]).astype(np.float32)
    as_bf16 = torch.from_numpy(values).to(torch.bfloat16)
    keys = as_bf16.view(torch.int16).numpy().copy()
    keys ^= (keys >> 15) & np.int16(0x7FFF)
    order = np.argsort(as_bf16.float().numpy(), kind="stable")
    assert np.all(np.diff(keys[order].astype(np.int32)) >= 0)
    # a bound rounded to a key never lets a value past it on the wrong side
    for bound in (-0.7, -1e-3, 0.0, 2e-3, 0.31, 0.9):
        low = ranking._bf16_key(np.array([bound]), up=False)[0] - 1
        high = ranking._bf16_key(np.array([bound]), up=True)[0] + 1
        floats = as_bf16.float().numpy()
        assert np.all(keys[floats >= bound] >= low)
        assert np.all(floats[keys >= high] >= bound)


@pytest.mark.parametrize("screen", [False, True])
def test_no_score_block_is_larger_than_a_query_block_by_a_chunk(screen: bool) -> None:
    queries, corpus, relevant = _retrieval_like(6, 100, 2500, 40, 0.1)
    shapes: list[tuple[int, int]] = []
    relevant_ranks(queries, corpus, relevant, chunk_size=300, query_chunk_size=32,
                   screen=screen, on_block=lambda kind, shape: shapes.append(shape))  # fmt: skip
    assert max(rows for rows, _ in shapes) <= 32
    assert max(cols for _, cols in shapes) <= 300
    # ceil(100 / 32) query blocks x ceil(2500 / 300) chunks, a screened block at most twice
    assert 4 * 9 <= len(shapes) <= 2 * 4 * 9


def test_a_million_candidates_from_disk_rank_in_bounded_memory(tmp_path) -> None:
    n_corpus, dim, n_queries = 1_000_000, 8, 64
    rng = np.random.default_rng(7)
    corpus = np.lib.format.open_memmap(tmp_path / "corpus.npy", mode="w+", dtype=np.float32,
                                       shape=(n_corpus, dim))  # fmt: skip
    for start in range(0, n_corpus, 250_000):
        corpus[start : start + 250_000] = _unit(rng, 250_000, dim)
    corpus.flush()
    corpus = np.load(tmp_path / "corpus.npy", mmap_mode="r")
    gold = rng.integers(0, n_corpus, n_queries)
    queries = np.asarray(corpus[gold]) + 0.05 * rng.standard_normal((n_queries, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    relevant = [[int(g)] for g in gold]

    tracemalloc.start()
    got = relevant_ranks(queries, corpus, relevant, chunk_size=65_536, query_chunk_size=64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full_matrix = n_queries * n_corpus * 4
    assert peak < full_matrix / 8  # one 64 x 65,536 block (16 MiB) and its temporaries
    for query in (0, 1, 2):  # against float64 scores, up to float32 rounding near the gold
        scores = np.asarray(corpus, dtype=np.float64) @ queries[query].astype(np.float64)
        gold_score, scores[gold[query]] = scores[gold[query]], -np.inf
        fewest = 1 + np.count_nonzero(scores >= gold_score + 1e-5)
        most = 1 + np.count_nonzero(scores >= gold_score - 1e-5)
        assert fewest <= got[query][0] <= most
    assert 0 < query_metrics(got[0])["mrr"] <= 1
