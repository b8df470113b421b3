"""The cells and rows of a leaderboard (harness.leaderboard builds them; the replicate
merging and the formats read them), kept apart so none of those modules imports another
in a circle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.compare import ExampleScores

MEAN = "mean"  # the column of the macro average over partitions


def limit_of(result: Any) -> int | None:
    """The ``--limit`` a result was scored under (None: every example)."""
    limit = result.config.get("limit")
    return int(limit) if limit is not None else None


@dataclass
class Cell:
    """One value in [0, 1]; `half` is half the width of its 95% interval."""

    value: float
    half: float | None = None
    best: bool = False
    p_holm: float | None = None
    same_as_best: bool = False
    untested: bool = False
    published: str = ""
    """A reported number as the paper prints it (x100)."""
    gain: float | None = None
    """Control rows: the system's value minus the control's (same examples)."""
    gain_p: float | None = None
    """Control rows: the sign-flip p-value of that gain."""
    limit: int | None = None
    """The run's ``--limit``: only the first N examples of the partition were scored (a
    retrieval query still ranks among the whole corpus); printed with a mark."""
    gain_p_holm: float | None = None
    """Control rows: `gain_p` Holm-corrected over the control cells of the column."""
    spread: float | None = None
    """Replicate rows: the standard deviation of the value over seeds."""
    n_seeds: int = 1
    interval: tuple[float, float] | None = None
    """The 95% interval itself where one was computed: a percentile interval is not
    symmetric about the value near 0 or 1, so a figure draws this, not value ± half."""

    def bounds(self) -> tuple[float, float] | None:
        """The interval to draw: `interval`, else value ± `half`, else None."""
        if self.interval is not None:
            return self.interval
        return None if self.half is None else (self.value - self.half, self.value + self.half)


@dataclass
class Row:
    model: str
    strategy: str
    cells: dict[str, Cell]
    source: str = ""
    """Empty for a measured row; the citation of a reported one."""
    dataset: str = ""
    scores: dict[str, ExampleScores] = field(default_factory=dict, repr=False)
    control_of: str = ""
    """Control rows: the strategy label of the system the control belongs to."""
    replicates: dict[int, Row] = field(default_factory=dict, repr=False)
    """Measured rows: seed -> the row of that seed's runs (itself for a single run)."""

    @property
    def reported(self) -> bool:
        return bool(self.source)
