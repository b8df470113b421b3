"""Registers the built-in per-example metrics that task kinds compute."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl

RANKING = {
    "mrr": "reciprocal rank of the first relevant candidate, full ranking, no cutoff",
    "mrr@10": "reciprocal rank, 0 when the first relevant candidate is below rank 10",
    "ndcg@10": "normalised discounted cumulative gain of the top 10 (binary gains)",
    "recall@1": "share of the relevant candidates ranked first",
    "recall@5": "share of the relevant candidates in the top 5",
    "recall@10": "share of the relevant candidates in the top 10",
}

COMPLETION = {
    "exact_match": "1 when the completion equals the target after whitespace normalisation",
    "edit_similarity": "1 - Levenshtein distance / the longer length, normalised strings",
}


@hookimpl
def harness_register_metrics(register: Any) -> None:
    for name, description in RANKING.items():
        register(name, name, description, higher_is_better=True, task_kind="retrieval")
    for name, description in COMPLETION.items():
        register(name, name, description, higher_is_better=True, task_kind="completion")
