"""The end-of-run summary: a table of metrics per partition (x100) with 95% intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.runner import PartitionOutcome

SHOWN = {"mrr": "MRR", "ndcg@10": "NDCG@10", "recall@1": "R@1", "recall@10": "R@10"}


def _cell(metric: Any) -> str:
    return f"{100 * metric.value:.2f} [{100 * metric.ci_low:.1f}, {100 * metric.ci_high:.1f}]"


def print_summary(outcomes: Sequence[PartitionOutcome], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)
    if not outcomes:
        console.print("nothing to report")
        return
    first = outcomes[0].result
    names = [m for m in SHOWN if m in first.metrics] or list(first.metrics)
    table = Table(
        title=f"{first.task} on {first.dataset}: {first.model} / {first.strategy} "
        "(x100, bootstrap 95% interval)"
    )
    for column in ("partition", "queries", "candidates", *[SHOWN.get(m, m) for m in names]):
        table.add_column(column, justify="left" if column == "partition" else "right")
    for outcome in outcomes:
        r = outcome.result
        mark = " (stored)" if outcome.reused else ""
        table.add_row(
            f"{r.partition}{mark}",
            str(r.n_examples),
            str(r.n_candidates),
            *[_cell(r.metrics[m]) for m in names],
        )
    console.print(table)
    console.print(f"results: {outcomes[0].path.parent}")


def summary_json(outcomes: Sequence[PartitionOutcome]) -> list[dict[str, Any]]:
    return [
        {
            "partition": o.partition,
            "path": str(o.path),
            "reused": o.reused,
            "n_examples": o.result.n_examples,
            "n_candidates": o.result.n_candidates,
            "main_score": o.result.main_score,
            "metrics": {k: vars(v) for k, v in o.result.metrics.items()},
        }
        for o in outcomes
    ]
