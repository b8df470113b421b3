"""Plugin: completion baselines that pay per request, `rag` and `icl` (nothing heavy imported)."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_strategies(register: Any) -> None:
    register(
        "rag",
        "harness.plugins.rag.strategies:RetrievalAugmented",
        "completion: top-k chunks of the repository's code, retrieved for the prefix, prepended",
        options="harness.plugins.rag.settings:RAG_OPTIONS",
        cost_kinds=("index_build",),
        cost_baseline=0,  # the cost view's default baseline where it has results
    )
    register(
        "icl",
        "harness.plugins.rag.strategies:InContext",
        "completion: other assertions of the same repository prepended as demonstrations",
        options="harness.plugins.rag.settings:ICL_OPTIONS",
        cost_kinds=(),
    )
