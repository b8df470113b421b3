"""Plugin: registers the task kind `retrieval` (lazily: nothing heavy is imported here)."""

from __future__ import annotations

from typing import Any

from harness.extensions import ModelKind
from harness.hookspecs import hookimpl


@hookimpl
def harness_register_task_kinds(register: Any) -> None:
    register(
        "retrieval",
        "harness.plugins.retrieval_eval:Retrieval",
        "rank the whole corpus for each query: MRR, NDCG@10, recall@k",
        options=(),  # its task cards' [options] are the task section's keys
        model_kind=ModelKind("encoder", "an embedding encoder", default_dtype="native"),
    )
