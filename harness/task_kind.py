"""What the core expects of a task kind plugin: score a model on one split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # harness.encoder imports numpy; registering a task kind must not
    from harness.encoder import Role


@dataclass
class Evaluation:
    """Per-example scores (each a dict with an ``id``) and what was ranked."""

    per_example: list[dict[str, Any]]
    n_candidates: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationOptions:
    corpus_chunk_size: int = 4096
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    embedding_cache: Path | None = None  # a folder for harness.embedding_cache; None: off
    # the run's model identity (model name, --set encoder.* values that change results):
    # part of every embedding cache key, so another setting never reads these embeddings
    model_identity: dict[str, Any] = field(default_factory=dict)
    refresh_cache: bool = False  # --overwrite: encode afresh, write the cache, read nothing
    # name -> function of the metrics registered for this task kind (``task_kind`` of their
    # registration), each called per example; None: the task kind's own defaults
    metrics: dict[str, Callable[..., float]] | None = None
    query_role: Role = "query"  # the task card's: "code" when its queries are code


class TaskKind(Protocol):
    """``evaluate(model, split, options) -> Evaluation``."""

    name: str

    def evaluate(self, model: Any, split: Any, options: EvaluationOptions) -> Evaluation: ...
