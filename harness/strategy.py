"""What the core expects of a strategy plugin: adapt a base model per partition.

A strategy is constructed once per run with a `StrategyContext`; `prepare`
sees the whole dataset (a task-wise adapter trains over every partition
there), and `model_for` returns the model that scores one partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.taskcard import TaskCard


@dataclass
class StrategyContext:
    task: TaskCard
    cache_dir: Path
    seed: int = 0
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    model: str = ""  # the encoder name as the user typed it
    model_options: dict[str, Any] = field(default_factory=dict)  # what else shapes the base


class Strategy:
    """The base: the model unchanged. Subclasses override what they adapt."""

    name: str = ""
    task_kinds: tuple[str, ...] = ()

    def __init__(self, context: StrategyContext) -> None:
        self.context = context

    def config(self, dataset: Any = None) -> dict[str, Any]:
        """Everything that determines the adapted model (an adapter hash included)."""
        return {"name": self.name}

    def prepare(self, model: Any, dataset: Any) -> None:
        """Train or load whatever spans partitions; the default needs nothing."""

    def model_for(self, model: Any, partition: Any) -> Any:
        """The model that scores `partition`."""
        return model
