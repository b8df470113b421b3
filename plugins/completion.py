"""Plugin: registers the task kind `completion` (lazily: nothing heavy is imported here)."""

from __future__ import annotations

from typing import Any

from harness.extensions import ModelKind
from harness.hookspecs import hookimpl
from harness.options import Option

OPTIONS = (
    Option("max_new_tokens", 48, "tokens generated at most per example"),
    Option("context_tokens", 1024, "prompt tokens at most (the prefix keeps its end)"),
    Option("batch_size", 8, "prompts generated at once", affects_results=False),
)


@hookimpl
def harness_register_task_kinds(register: Any) -> None:
    register(
        "completion",
        "harness.plugins.completion_eval:Completion",
        "complete each prefix greedily with a causal LM: exact match, edit similarity",
        options="harness.plugins.completion:OPTIONS",
        # causal LMs pick bf16 on cuda themselves (--dtype auto stays auto)
        model_kind=ModelKind("causal-lm", "a causal LM", default_dtype="auto"),
    )
