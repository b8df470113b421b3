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

``breakdowns = ["answer_source"]`` names per-example fields each result is also
summarised by (one group per value: ``result.breakdowns``, harness.stats).

``queries = "code"`` says the task's queries are code (code-to-code retrieval):
encoders then embed them as documents (a model's document prompt), and a
dataset that mines its pairs serves such a task with code queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

from harness.errors import InputError

if TYPE_CHECKING:  # harness.encoder imports numpy; reading a card must not
    from harness.encoder import Role

QUERY_KINDS = ("text", "code")


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
    queries: str = "text"  # what a query is: "text" (a description) or "code"
    breakdowns: tuple[str, ...] = ()  # per-example fields each result is summarised by too

    @property
    def query_role(self) -> Role:
        """The role an encoder embeds this task's queries in (harness.encoder.Role)."""
        return "code" if self.queries == "code" else "query"

    def __post_init__(self) -> None:
        if self.queries not in QUERY_KINDS:
            raise ValueError(
                f"queries must be one of {', '.join(QUERY_KINDS)}, got {self.queries!r}"
            )
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
    for name in ("metrics", "splits", "languages", "breakdowns"):
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
