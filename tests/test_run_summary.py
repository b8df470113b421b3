"""The end-of-run table (`harness.report.print_summary`): its columns do not depend on
whether a partition was stored or computed in this run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from harness.report import print_summary
from harness.results import MetricValue


def _outcome(metrics: dict[str, MetricValue], reused: bool) -> SimpleNamespace:
    result = SimpleNamespace(
        task="rc", dataset="local", model="lm", strategy="none", partition="numpy",
        n_examples=3, n_candidates=0, main_score="exact_match", metrics=metrics,
    )  # fmt: skip
    return SimpleNamespace(result=result, reused=reused, path=Path("results/rc/numpy.json"))


def _header(outcome: SimpleNamespace) -> list[str]:
    console = Console(width=200, record=True)
    print_summary([outcome], console)  # type: ignore[list-item]
    text = console.export_text()
    line = next(row for row in text.splitlines() if "partition" in row)
    return [cell.strip() for cell in line.strip("┃│ ").replace("┃", "|").split("|")]


def test_the_main_score_comes_first_and_the_rest_by_name_for_a_stored_partition_too():
    em, es = MetricValue(1 / 3, 0.0, 1.0), MetricValue(0.5, 0.2, 0.8)
    fresh = _header(_outcome({"exact_match": em, "edit_similarity": es}, reused=False))
    stored = _header(_outcome({"edit_similarity": es, "exact_match": em}, reused=True))
    assert fresh == stored == ["partition", "examples", "exact_match", "edit_similarity"]
