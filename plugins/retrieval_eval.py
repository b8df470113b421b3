"""Task kind `retrieval`: encode queries and corpus, rank the whole corpus.

Each query is ranked against every candidate of its partition (the
LoRACode/UniXcoder protocol), with pessimistic ranks among ties
(harness.metrics), so a constant scorer scores no better than chance.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from harness import distributed
from harness.data import RetrievalSplit
from harness.embedding_cache import CachedEncoder, evaluation_encoder
from harness.errors import HarnessError
from harness.metrics import RANKING_FUNCTIONS, query_metrics, relevant_ranks
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
            return Evaluation(per_example=[], n_candidates=len(corpus_ids))
        if split.query_pool is None or split.corpus_pool is None:
            ranks = relevant_ranks(queries, corpus, relevant, chunk_size=options.corpus_chunk_size)
            n_candidates = len(corpus_ids)
        else:
            ranks, n_candidates = _pooled_ranks(
                split, query_ids, corpus_ids, queries, corpus, relevant, options.corpus_chunk_size
            )
        ranked = time.perf_counter()

        functions = options.metrics or RANKING_FUNCTIONS  # each: f(RankedQuery) -> float
        per_example = []
        for qid, rel, query_ranks in zip(query_ids, relevant, ranks, strict=True):
            scores = query_metrics(query_ranks, len(rel), functions)
            row: dict[str, Any] = {"id": qid}
            row.update({k: (v if math.isfinite(v) else None) for k, v in scores.items()})
            per_example.append(row)
        timings = {
            "encode_queries_s": encoded_queries - started,
            "encode_corpus_s": encoded_corpus - encoded_queries,
            "rank_s": ranked - encoded_corpus,
            **cache_stats(),
        }
        return Evaluation(per_example=per_example, n_candidates=n_candidates, timings=timings)


def _pooled_ranks(
    split: RetrievalSplit,
    query_ids: list[str],
    corpus_ids: list[str],
    queries: np.ndarray,
    corpus: np.ndarray,
    relevant: list[list[int]],
    chunk_size: int,
) -> tuple[list[np.ndarray], int]:
    """Ranks of each query among the corpus of its pool, and the largest pool's size."""
    assert split.query_pool is not None and split.corpus_pool is not None
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
        found = relevant_ranks(queries[indices], corpus[rows], pool_relevant, chunk_size=chunk_size)
        for index, query_ranks in zip(indices, found, strict=True):
            ranks[index] = query_ranks
    return ranks, max((len(rows) for rows in members.values()), default=0)
