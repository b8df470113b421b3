"""Plugin: registers the task kind `completion` (lazily: nothing heavy is imported here)."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_task_kinds(register: Any) -> None:
    register(
        "completion",
        "harness.plugins.completion_eval:Completion",
        "complete each prefix greedily with a causal LM: exact match, edit similarity",
    )
