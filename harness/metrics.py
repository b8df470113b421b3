"""Full-rank retrieval metrics with one deterministic tie rule.

Tie rule (pessimistic ranks): every irrelevant candidate whose score ties a
relevant one's is ranked ahead of it, so a constant scorer gets the worst rank
and never looks better than chance. (pytrec_eval breaks ties by document id and
gives a constant scorer reciprocal rank 1.0 when the gold document has the
largest id.) Relevance is binary; a query may have several relevant documents.
With its relevant documents sorted by score, descending, the k-th (0-based) has

    rank = 1 + k + #(irrelevant candidates with score >= its score - tie_tolerance)

Relevant documents tied among themselves take consecutive positions; with
binary gains their order does not matter. Two scores closer than
`tie_tolerance` (default 1e-6, a few float32 rounding steps of a cosine) count
as a tie, because one float32 dot product can round differently depending on
the shape of the matrix product it is computed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.ranking import BlockHook, count_at_least

TIE_TOLERANCE = 1e-6
"""Scores closer than this count as tied (see the module docstring)."""

_EMPTY_RANKS = np.zeros(0, dtype=np.int64)


def ranks_from_scores(
    scores: Any, relevant: Sequence[int], *, tie_tolerance: float = TIE_TOLERANCE
) -> np.ndarray:
    """Sorted 1-based pessimistic ranks of the `relevant` indices of one score vector.

    >>> ranks_from_scores([0.9, 0.5, 0.5, 0.1], [2]).tolist()
    [3]
    """
    vector = np.asarray(_to_numpy(scores), dtype=np.float64)
    if vector.ndim != 1:
        raise HarnessError(f"scores must be one vector, got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise HarnessError("scores contain NaN or infinite values")
    docs = _relevant_indices(relevant, len(vector))
    if docs.size == 0:
        return _EMPTY_RANKS.copy()
    is_relevant = np.zeros(len(vector), dtype=bool)
    is_relevant[docs] = True
    irrelevant = np.sort(vector[~is_relevant])
    gold = np.sort(vector[docs])[::-1]
    at_least = len(irrelevant) - np.searchsorted(irrelevant, gold - tie_tolerance, side="left")
    return (1 + np.arange(docs.size) + at_least).astype(np.int64)


def relevant_ranks(
    query_emb: Any,
    corpus_emb: Any,
    relevant: Sequence[Sequence[int]],
    *,
    chunk_size: int = 4096,
    query_chunk_size: int = 1024,
    tie_tolerance: float = TIE_TOLERANCE,
    screen: bool | None = None,
    on_block: BlockHook | None = None,
) -> list[np.ndarray]:
    """For each query, the sorted 1-based pessimistic ranks of its relevant corpus rows.

    `relevant[i]` holds indices into `corpus_emb`. Scores are float32 dot
    products (cosine for L2-normalised embeddings). The corpus is scored in
    chunks of `chunk_size` rows for `query_chunk_size` queries at a time, so
    the full score matrix is never held (harness.ranking; `screen` and
    `on_block` are passed on). Accepts numpy arrays, memory-mapped arrays
    (read a chunk at a time) or torch tensors.
    """
    queries = _as_float32_matrix(query_emb, "query_emb")
    corpus = _as_float32_matrix(corpus_emb, "corpus_emb")
    if queries.shape[1] != corpus.shape[1]:
        raise HarnessError(
            f"query and corpus embeddings differ in dimension: "
            f"{queries.shape[1]} != {corpus.shape[1]}"
        )
    if len(relevant) != len(queries):
        raise HarnessError(f"{len(queries)} queries but {len(relevant)} relevance lists")
    if chunk_size < 1 or query_chunk_size < 1:
        raise HarnessError("chunk sizes must be positive")
    docs = [_relevant_indices(rel, len(corpus)) for rel in relevant]
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    if not lengths.sum():
        return [_EMPTY_RANKS.copy() for _ in docs]
    pair_query = np.repeat(np.arange(len(docs)), lengths)
    gold, at_least = count_at_least(
        queries, corpus, pair_query, np.concatenate(docs),
        tie_tolerance=tie_tolerance, chunk_size=chunk_size,
        query_chunk_size=query_chunk_size, screen=screen, on_block=on_block,
    )  # fmt: skip
    # Within each query, order its relevant documents by score, descending.
    order = np.lexsort((-gold, pair_query))
    group_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    position = np.arange(len(pair_query)) - group_start[pair_query[order]]
    ranks = 1 + position + at_least[order]
    return list(np.split(ranks.astype(np.int64), np.cumsum(lengths)[:-1]))


@dataclass(frozen=True)
class RankedQuery:
    """One query's outcome, what every ranking metric is a function of: the sorted 1-based
    ranks of its relevant documents found, and how many relevant documents it has."""

    found: np.ndarray
    total: int

    @property
    def first(self) -> float:
        return float(self.found[0]) if self.found.size else math.inf


def ranked_query(ranks: Any, n_relevant: int | None = None) -> RankedQuery:
    """The checked `RankedQuery` of `ranks` (see `query_metrics`)."""
    found = np.sort(np.asarray(_to_numpy(ranks), dtype=np.float64).reshape(-1))
    total = len(found) if n_relevant is None else int(n_relevant)
    if total < 1:
        raise HarnessError("a query without relevant documents has no ranking metrics")
    if total < len(found):
        raise HarnessError(f"{len(found)} ranks but n_relevant={total}")
    if found.size and (found[0] < 1 or np.any(np.diff(found) < 1)):
        raise HarnessError("ranks must be distinct and at least 1")
    return RankedQuery(found, total)


def reciprocal_rank(query: RankedQuery) -> float:
    return 1.0 / query.first


def reciprocal_rank_at_10(query: RankedQuery) -> float:
    return 1.0 / query.first if query.first <= 10 else 0.0


def ndcg_at_10(query: RankedQuery) -> float:
    """Binary gains: each relevant document in the top 10 gains 1 / log2(rank + 1)."""
    dcg = float(np.sum(1.0 / np.log2(query.found[query.found <= 10] + 1)))
    idcg = float(np.sum(1.0 / np.log2(np.arange(2, min(query.total, 10) + 2))))
    return dcg / idcg


def recall_at(k: int) -> RankingMetric:
    """The share of the relevant documents ranked in the top `k`."""

    def recall(query: RankedQuery) -> float:
        return float(np.count_nonzero(query.found <= k)) / query.total

    recall.__name__ = f"recall_at_{k}"
    return recall


RankingMetric = Callable[[RankedQuery], float]
recall_at_1, recall_at_5, recall_at_10 = recall_at(1), recall_at(5), recall_at(10)
RANKING_FUNCTIONS: dict[str, RankingMetric] = {
    "mrr": reciprocal_rank,
    "mrr@10": reciprocal_rank_at_10,
    "ndcg@10": ndcg_at_10,
    "recall@1": recall_at_1,
    "recall@5": recall_at_5,
    "recall@10": recall_at_10,
}
"""The ranking metrics the retrieval task kind computes by default (the built-in metrics
plugin registers these functions; a task kind is handed the registered ones)."""


def query_metrics(
    ranks: Any,
    n_relevant: int | None = None,
    functions: Mapping[str, RankingMetric] = RANKING_FUNCTIONS,
) -> dict[str, float]:
    """Per-query metrics from the ranks of its relevant documents.

    `n_relevant` defaults to `len(ranks)`; pass a larger number when some
    relevant documents are missing from the corpus (they count as not found).
    Keys: the `functions`' names (default: the `RANKING_METRICS`) and 'rank'
    (first relevant rank, a float).

    >>> query_metrics([2, 5])["recall@1"], query_metrics([2, 5])["mrr"]
    (0.0, 0.5)
    """
    query = ranked_query(ranks, n_relevant)
    return {**{name: function(query) for name, function in functions.items()}, "rank": query.first}


RANKING_METRICS: tuple[str, ...] = tuple(RANKING_FUNCTIONS)


def mean_metrics(
    per_query: Sequence[Mapping[str, float]], names: Sequence[str] = RANKING_METRICS
) -> dict[str, float]:
    """Mean of each named metric over the per-query dicts.

    >>> mean_metrics([{"mrr": 1.0}, {"mrr": 0.5}], ["mrr"])
    {'mrr': 0.75}
    """
    if not per_query:
        raise HarnessError("no queries to average")
    return {name: float(np.mean([row[name] for row in per_query])) for name in names}


def _relevant_indices(relevant: Sequence[int], n_corpus: int) -> np.ndarray:
    """Distinct relevant indices as int64, checked to lie inside the corpus."""
    docs = np.unique(np.asarray(relevant, dtype=np.int64).reshape(-1))
    if docs.size and (docs[0] < 0 or docs[-1] >= n_corpus):
        raise HarnessError(f"relevant index out of range for a corpus of {n_corpus}")
    return docs


def _as_float32_matrix(embeddings: Any, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) array of finite values (a copy only when needed)."""
    matrix = np.ascontiguousarray(_to_numpy(embeddings), dtype=np.float32)
    if matrix.ndim != 2:
        raise HarnessError(f"{name} must be a 2-D array, got shape {matrix.shape}")
    step = max(1, (1 << 20) // max(1, matrix.shape[1]))  # a memory-mapped corpus stays on disk
    for start in range(0, len(matrix), step):
        if not np.all(np.isfinite(matrix[start : start + step])):
            raise HarnessError(f"{name} contains NaN or infinite values")
    return matrix


def _to_numpy(values: Any) -> Any:
    """Torch tensors (any device or dtype) to numpy; anything else as is."""
    if not (hasattr(values, "detach") and hasattr(values, "cpu")):
        return values
    tensor = values.detach().cpu()
    if tensor.is_floating_point() and str(tensor.dtype) not in ("torch.float32", "torch.float64"):
        tensor = tensor.float()  # bfloat16 and float16 have no exact numpy twin
    return tensor.numpy()
