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
        # float32 unless asked: bf16 moved MRR by up to 0.0014 on local t2c (MiniLM),
        # beyond the 0.0005 a default may move it (docs/performance.md); --dtype native
        model_kind=ModelKind("encoder", "an embedding encoder"),
    )
