"""Registers the built-in per-example metrics as the functions the task kinds call.

A metric's ``task_kind`` says which task kind calls it and so its signature:
``retrieval``: ``f(harness.metrics.RankedQuery) -> float``; ``completion``:
``f(prediction, target) -> float``. Targets are lazy, so registering imports
nothing heavy.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl

_COMPLETION = "harness.plugins.completion_eval"
RANKING = {
    "mrr": "reciprocal rank of the first relevant candidate, full ranking, no cutoff",
    "mrr@10": "reciprocal rank, 0 when the first relevant candidate is below rank 10",
    "ndcg@10": "normalised discounted cumulative gain of the top 10 (binary gains)",
    "recall@1": "share of the relevant candidates ranked first",
    "recall@5": "share of the relevant candidates in the top 5",
    "recall@10": "share of the relevant candidates in the top 10",
}
RANKING_FUNCTIONS = {
    "mrr": "reciprocal_rank",
    "mrr@10": "reciprocal_rank_at_10",
    "ndcg@10": "ndcg_at_10",
    "recall@1": "recall_at_1",
    "recall@5": "recall_at_5",
    "recall@10": "recall_at_10",
}
COMPLETION = {
    "exact_match": "1 when the completion equals the target after whitespace normalisation",
    "edit_similarity": "1 - Levenshtein distance / the longer length, normalised strings",
}


@hookimpl
def harness_register_metrics(register: Any) -> None:
    for name, description in RANKING.items():
        target = f"harness.metrics:{RANKING_FUNCTIONS[name]}"
        register(name, target, description, higher_is_better=True, task_kind="retrieval")
    for name, description in COMPLETION.items():
        target = f"{_COMPLETION}:{name}"
        register(name, target, description, higher_is_better=True, task_kind="completion")
