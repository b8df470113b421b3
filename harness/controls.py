"""Controls a strategy scored beside itself, as a result records them: a typed record.

A strategy may score controls on the same examples as itself (another
repository's adapter, the mean adapter, ...) and store them in its model
view's ``info["controls"]``: ``metric``, ``per_example`` (``ids`` and one
score list per control, in the order of the ids) and optionally
``diversity`` (the adapters' mean pairwise cosine and whether they
collapsed). The leaderboard shows one row per control and a note per
diversity record (harness.leaderboard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Diversity:
    """How different a strategy's adapters are: their mean pairwise cosine."""

    cosine: float | None  # None: one adapter cannot show a collapse
    of_updates: bool  # the updates' cosine (else the factors', in older results)
    collapsed: bool
    n_adapters: Any = "?"
    collapse_cosine: Any = "?"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Diversity:
        cosine = record.get("mean_update_cosine", record.get("mean_cosine"))
        return cls(
            cosine=None if cosine is None else float(cosine),
            of_updates="mean_update_cosine" in record,
            collapsed=bool(record.get("collapsed")),
            n_adapters=record.get("n_adapters", "?"),
            collapse_cosine=record.get("collapse_cosine", "?"),
        )


@dataclass(frozen=True)
class Controls:
    """The controls of one result: per-example scores by control name, and diversity."""

    metric: str | None
    ids: list[str]
    scores: dict[str, list[float]] = field(default_factory=dict)
    diversity: Diversity | None = None

    @classmethod
    def from_info(cls, info: Mapping[str, Any] | None) -> Controls | None:
        """The record a model view's `info` holds; None when it holds no controls."""
        recorded = (info or {}).get("controls") or {}
        if not isinstance(recorded, Mapping):
            return None
        per_example = recorded.get("per_example") or {}
        if "ids" not in per_example:
            return None
        diversity = recorded.get("diversity") or {}
        return cls(
            metric=recorded.get("metric"),
            ids=[str(i) for i in per_example["ids"]],
            scores={k: list(v) for k, v in sorted(per_example.items()) if k != "ids"},
            diversity=Diversity.from_record(diversity) if diversity else None,
        )
