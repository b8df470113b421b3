"""Strategy `none`: the base model as it is, for every partition."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.strategy import Strategy


class NoAdaptation(Strategy):
    """Evaluates the base model zero-shot: nothing is trained."""

    name = "none"
    task_kinds = ()  # every task kind, a plugin's too: nothing is adapted
    changes_encoder = False


@hookimpl
def harness_register_strategies(register: Any) -> None:
    # the cost view's baseline where no strategy ranked before it has results
    register(
        "none", NoAdaptation, "the base model as it is (zero-shot)", options=(), cost_baseline=1
    )
