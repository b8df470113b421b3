"""What the core expects of a strategy plugin: adapt a base model per partition.

A strategy is constructed once per run with a `StrategyContext`; `prepare`
sees the whole dataset (a task-wise adapter trains over every partition
there), and `model_for` returns the model that scores one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.registry import Registry
from harness.task_kind import Evaluation
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
    # the task options the run scores with (the card's, then --set task.*): a strategy that
    # evaluates controls itself (hypernet) scores them the same way
    task_options: dict[str, Any] = field(default_factory=dict)
    # the run's registries (``encoders``, ``task_kinds``, ...): a strategy that builds another
    # model (a retriever, a repository reader) finds it here rather than in a global
    registries: Mapping[str, Registry] = field(default_factory=dict)
    # scores a model on examples as the run scores (its task kind, task options, seed and
    # metrics): for controls a strategy reports; None outside a run
    evaluate: Callable[[Any, Sequence[Any]], Evaluation] | None = None


@dataclass(frozen=True)
class PlannedAdapter:
    """An artifact a strategy trains before it scores, or finds in its cache."""

    name: str  # what it is for: a partition, or "task"
    key: str  # its cache key
    cached: bool
    steps: int  # training steps it takes from scratch
    steps_done: int = 0  # already in a checkpoint of an interrupted training


class Strategy:
    """The base: the model unchanged. Subclasses override what they adapt."""

    name: str = ""
    task_kinds: tuple[str, ...] = ()
    # False when `model_for` returns the base model itself, unchanged, so the base
    # model's embeddings can be shared with other such runs (harness.matrix_run)
    changes_encoder: bool = True
    # True when it trains weights into the model (an adapter): a model registered with
    # ``trainable=False`` (one without weights, fitted on its corpus) is refused in the plan
    trains_model: bool = False

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

    def planned_adapters(self, dataset: Any) -> list[PlannedAdapter]:
        """What `prepare` would train or load for `dataset` (`--dry-run`); by default nothing."""
        return []
