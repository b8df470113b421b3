"""Task cards: frozen, validated descriptions of a task, read from TOML.

A card names the task kind that scores it, its default dataset, the
evaluation split, the metrics and the main score::

    name = "t2c"
    kind = "retrieval"
    description = "text-to-code retrieval: a docstring retrieves its function"
    default_dataset = "local"
    eval_split = "test"
    metrics = ["mrr", "ndcg@10"]
    main_score = "mrr"
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from harness.errors import InputError


@dataclass(frozen=True)
class TaskCard:
    name: str
    kind: str
    description: str
    default_dataset: str
    metrics: tuple[str, ...]
    main_score: str
    eval_split: str = "test"
    splits: tuple[str, ...] = ("train", "valid", "test")
    languages: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.main_score not in self.metrics:
            raise ValueError(f"main_score {self.main_score!r} is not among metrics {self.metrics}")
        if self.eval_split not in self.splits:
            raise ValueError(f"eval_split {self.eval_split!r} is not among splits {self.splits}")


def load_card(path: Path) -> TaskCard:
    """Read and validate one card; errors name the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read task card: {exc}", path=path) from None
    known = {f.name for f in fields(TaskCard)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(
            f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})", path=path
        )
    for name in ("name", "kind", "description", "default_dataset", "metrics", "main_score"):
        if name not in raw:
            raise InputError(f"missing required field {name!r}", path=path)
    for name in ("metrics", "splits", "languages"):
        if name in raw:
            if not isinstance(raw[name], list) or not all(isinstance(v, str) for v in raw[name]):
                raise InputError(f"field {name!r} must be a list of strings", path=path)
            raw[name] = tuple(raw[name])
    try:
        return TaskCard(**raw)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc), path=path) from None


def load_cards(folder: Path) -> list[TaskCard]:
    """Every ``*.toml`` card in `folder`, sorted by file name."""
    return [load_card(path) for path in sorted(folder.glob("*.toml"))]
