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
    # the same columns whether a partition was stored or fresh: the main score, then by name
    names = [m for m in SHOWN if m in first.metrics] or sorted(
        first.metrics, key=lambda m: (m != first.main_score, m)
    )
    # a task that ranks nothing (completion) shows examples, and a row pooled over partitions
    ranking = any(o.result.n_candidates for o in outcomes)
    table = Table(
        title=f"{first.task} on {first.dataset}: {first.model} / {first.strategy} "
        "(x100, bootstrap 95% interval)"
    )
    counts = ("queries", "candidates") if ranking else ("examples",)
    for column in ("partition", *counts, *[SHOWN.get(m, m) for m in names]):
        table.add_column(column, justify="left" if column == "partition" else "right")
    for outcome in outcomes:
        r = outcome.result
        mark = " (stored)" if outcome.reused else ""
        shown = (str(r.n_examples), str(r.n_candidates)) if ranking else (str(r.n_examples),)
        table.add_row(f"{r.partition}{mark}", *shown, *[_cell(r.metrics[m]) for m in names])
    if not ranking and len(outcomes) > 1:
        rows, pooled = pooled_metrics(outcomes, names)
        table.add_row(
            f"all {len(outcomes)} (pooled)", str(rows), *[_cell(pooled[m]) for m in names]
        )
    console.print(table)
    console.print(f"results: {outcomes[0].path.parent}")


def pooled_metrics(
    outcomes: Sequence[PartitionOutcome], names: Sequence[str]
) -> tuple[int, dict[str, Any]]:
    """Every example of every partition as one sample: means with bootstrap intervals."""
    from types import SimpleNamespace

    from harness.results import read_examples
    from harness.stats import summarize

    rows = [row for o in outcomes for row in read_examples(o.path, o.result.examples_sha256)]
    first = outcomes[0].result
    n_resamples = int(first.config.get("n_resamples", 1000))
    summary = summarize(rows, list(names), n_resamples=n_resamples, seed=first.seed)
    return len(rows), {k: SimpleNamespace(**v) for k, v in summary.items()}


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
