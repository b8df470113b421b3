"""Task kind `retrieval`: score queries against the corpus, rank the whole corpus.

Each query is ranked against every candidate of its partition (the
LoRACode/UniXcoder protocol), or of its pool when the split has pools, with
pessimistic ranks among ties (harness.metrics), so a constant scorer scores no
better than chance. Two kinds of model (harness.encoder):

- an `Encoder`: queries and corpus are embedded (through the embedding cache)
  and scored by dot products, in bounded memory (harness.ranking);
- a `Retriever` (``index`` and ``score``: BM25, sparse, late interaction): it is
  fitted on the candidates it ranks (the partition's corpus, or each pool's), then
  scores blocks of queries; a block holds at most about 1024 x `corpus_chunk_size`
  scores, as the dense path's blocks do, and is ranked by the same tie rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness import distributed
from harness.data import RetrievalSplit
from harness.embedding_cache import CachedEncoder, evaluation_encoder
from harness.encoder import Retriever
from harness.errors import HarnessError
from harness.metrics import RANKING_FUNCTIONS, TIE_TOLERANCE, query_metrics, relevant_ranks
from harness.ranking import ranks_in_scores
from harness.task_kind import Evaluation, EvaluationOptions


def _checked(embeddings: np.ndarray, ids: list[str], what: str) -> np.ndarray:
    if embeddings.shape[0] != len(ids):
        raise HarnessError(
            f"encoder returned {embeddings.shape[0]} {what} embeddings for {len(ids)} texts"
        )
    if not np.isfinite(embeddings).all():
        bad = int(np.flatnonzero(~np.isfinite(embeddings).all(axis=1))[0])
        raise HarnessError(
            f"encoder returned a NaN or infinite {what} embedding for {ids[bad]!r} (row {bad})"
        )
    return np.ascontiguousarray(embeddings, dtype=np.float32)


QUERY_BLOCK = 1024
"""A retriever's queries are scored in blocks of about QUERY_BLOCK x corpus_chunk_size scores."""

PoolRanker = Callable[[list[int], list[int], list[list[int]]], list[np.ndarray]]
"""(query indices, corpus rows, their relevant rows within the pool) -> ranks per query."""


class Retrieval:
    name = "retrieval"

    def evaluate(self, model: Any, split: RetrievalSplit, options: EvaluationOptions) -> Evaluation:
        query_ids = list(split.queries)
        corpus_ids = list(split.corpus)
        position = {doc_id: i for i, doc_id in enumerate(corpus_ids)}
        relevant = []
        for qid in query_ids:
            gold = [doc for doc, grade in split.qrels.get(qid, {}).items() if grade > 0]
            missing = [doc for doc in gold if doc not in position]
            if not gold or missing:
                what = f"gold {missing[0]!r} is not in the corpus" if missing else "no relevant doc"
                raise HarnessError(f"query {qid!r}: {what}")
            relevant.append([position[doc] for doc in gold])

        if isinstance(model, Retriever):
            if not distributed.is_main():  # rank 0 fits, ranks and writes; nothing to share
                return Evaluation(per_example=[], n_candidates=len(corpus_ids))
            fitted = _Fitted(model, split, query_ids, corpus_ids, options)
            ranks, n_candidates = _ranks(split, query_ids, corpus_ids, relevant, fitted.rank)
            timings = fitted.timings
        else:
            dense = _dense(model, split, query_ids, corpus_ids, options)
            if dense is None:
                return Evaluation(per_example=[], n_candidates=len(corpus_ids))
            queries, corpus, timings = dense
            ranked_from = time.perf_counter()

            def rank(indices: list[int], rows: list[int], rel: list[list[int]]) -> list[np.ndarray]:
                chunk = options.corpus_chunk_size
                if len(indices) == len(query_ids) and len(rows) == len(corpus_ids):
                    return relevant_ranks(queries, corpus, rel, chunk_size=chunk)
                return relevant_ranks(queries[indices], corpus[rows], rel, chunk_size=chunk)

            ranks, n_candidates = _ranks(split, query_ids, corpus_ids, relevant, rank)
            timings["rank_s"] = time.perf_counter() - ranked_from

        functions = options.metrics or RANKING_FUNCTIONS  # each: f(RankedQuery) -> float
        per_example = []
        for qid, rel, query_ranks in zip(query_ids, relevant, ranks, strict=True):
            scores = query_metrics(query_ranks, len(rel), functions)
            row: dict[str, Any] = {"id": qid}
            row.update({k: (v if math.isfinite(v) else None) for k, v in scores.items()})
            per_example.append(row)
        return Evaluation(per_example=per_example, n_candidates=n_candidates, timings=timings)


def _dense(
    model: Any, split: RetrievalSplit, query_ids: list[str], corpus_ids: list[str],
    options: EvaluationOptions,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]] | None:  # fmt: skip
    """Query and corpus embeddings and the seconds they took (None on a rank other than
    the first under torchrun: it only helped encode)."""
    started = time.perf_counter()
    # sharded across ranks under torchrun, and cached on disk unless turned off
    encoder = evaluation_encoder(
        model,
        options.embedding_cache,
        run=options.model_identity,
        refresh=options.refresh_cache,
    )
    cache_stats = encoder.stats if isinstance(encoder, CachedEncoder) else dict
    queries = encoder.encode(
        [split.queries[q] for q in query_ids],
        role=options.query_role,
        description="encoding queries",
    )
    queries = _checked(queries, query_ids, "query")
    encoded_queries = time.perf_counter()
    corpus = encoder.encode(
        [split.corpus[d] for d in corpus_ids], role="code", description="encoding corpus"
    )
    corpus = _checked(corpus, corpus_ids, "corpus")
    encoded_corpus = time.perf_counter()
    if not distributed.is_main():  # rank 0 ranks and writes; the others only encoded
        return None
    timings = {
        "encode_queries_s": encoded_queries - started,
        "encode_corpus_s": encoded_corpus - encoded_queries,
        **cache_stats(),
    }
    return queries, corpus, timings


class _Fitted:
    """A `Retriever` fitted on the candidates of each pool it is asked to rank."""

    def __init__(
        self, model: Any, split: RetrievalSplit, query_ids: list[str], corpus_ids: list[str],
        options: EvaluationOptions,
    ) -> None:  # fmt: skip
        self.model, self.options = model, options
        self.queries = [split.queries[q] for q in query_ids]
        self.query_ids = query_ids
        self.corpus = [split.corpus[d] for d in corpus_ids]
        self.timings = {"index_corpus_s": 0.0, "score_queries_s": 0.0, "rank_s": 0.0}

    def rank(self, indices: list[int], rows: list[int], rel: list[list[int]]) -> list[np.ndarray]:
        started = time.perf_counter()
        self.model.index([self.corpus[row] for row in rows])
        self.timings["index_corpus_s"] += time.perf_counter() - started
        block = max(1, QUERY_BLOCK * self.options.corpus_chunk_size // max(1, len(rows)))
        ranks: list[np.ndarray] = []
        for first in range(0, len(indices), block):
            part = indices[first : first + block]
            started = time.perf_counter()
            scores = self.model.score([self.queries[i] for i in part], role=self.options.query_role)
            scored = time.perf_counter()
            scores = self._checked(scores, part, len(rows))
            ranks.extend(ranks_in_scores(scores, rel[first : first + block],
                                         tie_tolerance=TIE_TOLERANCE))  # fmt: skip
            self.timings["score_queries_s"] += scored - started
            self.timings["rank_s"] += time.perf_counter() - scored
        return ranks

    def _checked(self, scores: Any, part: list[int], n_candidates: int) -> np.ndarray:
        scores = np.asarray(scores)
        if scores.shape != (len(part), n_candidates):
            raise HarnessError(
                f"model returned scores of shape {scores.shape} for {len(part)} queries and "
                f"{n_candidates} candidates"
            )
        if not np.isfinite(scores).all():
            bad = part[int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])]
            raise HarnessError(
                f"model returned a NaN or infinite score for query {self.query_ids[bad]!r}"
            )
        return np.ascontiguousarray(scores, dtype=np.float32)


def _ranks(
    split: RetrievalSplit,
    query_ids: list[str],
    corpus_ids: list[str],
    relevant: list[list[int]],
    rank: PoolRanker,
) -> tuple[list[np.ndarray], int]:
    """Ranks of each query among the corpus (or the corpus of its pool, when the split has
    pools), and how many candidates the largest ranking had."""
    if split.query_pool is None or split.corpus_pool is None:
        everything = rank(list(range(len(query_ids))), list(range(len(corpus_ids))), relevant)
        return everything, len(corpus_ids)
    members: dict[str, list[int]] = {}
    for row, doc in enumerate(corpus_ids):
        members.setdefault(split.corpus_pool[doc], []).append(row)
    asked: dict[str, list[int]] = {}
    for index, qid in enumerate(query_ids):
        asked.setdefault(split.query_pool[qid], []).append(index)
    ranks: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(query_ids)
    for pool, indices in asked.items():
        rows = members.get(pool, [])
        local = {row: position for position, row in enumerate(rows)}
        outside = [query_ids[i] for i in indices if any(d not in local for d in relevant[i])]
        if outside:
            raise HarnessError(f"query {outside[0]!r}: a relevant doc is outside its pool {pool!r}")
        pool_relevant = [[local[d] for d in relevant[i]] for i in indices]
        for index, query_ranks in zip(indices, rank(indices, rows, pool_relevant), strict=True):
            ranks[index] = query_ranks
    return ranks, max((len(rows) for rows in members.values()), default=0)
