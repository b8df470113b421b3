"""Power and false alarms of `harness check` on a baseline, by simulation (docs/ci-regression.md).

    python leaderboards/ci_power.py [BASELINE] [--replicates R]

prints a markdown table for BASELINE (default leaderboards/ci-baseline.json;
its tolerance and metrics, alpha 0.05). Each simulated suite changes the
baseline's own per-example scores in every run at once (the same examples
for every metric of a run, as a real change would) and applies the rule
(harness.check_power.decide) to all its comparisons; a row gives the share of
R suites that exit 1, and the share in which the comparison with the largest
stated detectable drop fails (at least 0.8 at that drop: it is stated for a
Bonferroni test, and Holm tests it at a higher level once others failed). Models:

- lose: each example loses its whole score with probability drop/mean (the
  worst case the stated detectable drop assumes);
- shrink: every score is multiplied by 1 - drop/mean (a uniform drop);
- reshuffle: 20% of a run's examples swap scores among themselves (no change
  in expectation: a false alarm when it fails);
- identical: the baseline itself (the rerun of a deterministic suite).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.check import baseline_runs, power_plan
from harness.check_power import decide

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""(runs' scores stacked as metrics x examples, rng) -> changed scores."""


def lose(drop: float) -> Change:
    def change(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lost = rng.random(scores.shape[1]) < drop / scores.mean(axis=1, keepdims=True)
        return np.where(lost, 0.0, scores)

    return change


def shrink(drop: float) -> Change:
    def change(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return scores * (1.0 - drop / scores.mean(axis=1, keepdims=True))

    return change


def reshuffle(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    chosen = rng.choice(scores.shape[1], size=max(2, scores.shape[1] // 5), replace=False)
    changed = scores.copy()
    changed[:, chosen] = scores[:, rng.permutation(chosen)]
    return changed


def identical(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return scores


def failure_rates(
    runs: list[np.ndarray], change: Change, tolerance: float, r: int, weakest: int
) -> tuple[float, float]:
    """Shares of `r` simulated suites (every run changed by `change`) that fail, and in
    which the comparison numbered `weakest` fails."""
    rng = np.random.default_rng(0)
    failed = weakest_failed = 0
    for _ in range(r):
        differences = [row for s in runs for row in change(s, rng) - s]
        statuses = [d.status for d in decide(differences, tolerance, ALPHA)]
        failed += "DROP" in statuses
        weakest_failed += statuses[weakest] == "DROP"
    return failed / r, weakest_failed / r


def table(path: Path, r: int) -> str:
    raw = json.loads(path.read_text(encoding="utf-8"))
    tolerance = float(raw.get("tolerance", 0.01))
    stored = baseline_runs(raw, path)
    runs = [np.stack(list(s.columns.values())) for _, s in sorted(stored.items())]
    plan = power_plan(stored, tolerance, ALPHA)
    weakest = max(range(len(plan)), key=lambda i: plan[i].detectable)
    stated, m = plan[weakest].detectable, len(plan)
    lines = [
        f"{path.name}: {len(runs)} runs, n = {', '.join(str(s.shape[1]) for s in runs)}, "
        f"{m} comparisons, tolerance {100 * tolerance:.2f} points, alpha {ALPHA}; "
        f"largest stated detectable drop {100 * stated:.2f} points ({plan[weakest].run} "
        f"{plan[weakest].metric}); {r} simulated suites a row.",
        "",
        "| change in every run | mean drop (points) | suites that fail | "
        "weakest comparison fails |",
        "| --- | ---: | ---: | ---: |",
    ]
    rows: list[tuple[str, float, Change]] = [
        ("identical (a rerun)", 0.0, identical),
        ("reshuffle 20% of the examples", 0.0, reshuffle),
    ]
    for factor in (1.0, 1.25, 1.5, 2.0, 3.0):
        rows.append((f"lose, {factor:g} x tolerance", factor * tolerance, lose(factor * tolerance)))
    rows.append(("lose, the largest stated detectable drop", stated, lose(stated)))
    for factor in (1.0, 1.1, 1.25):
        drop = factor * tolerance
        rows.append((f"shrink, {factor:g} x tolerance", drop, shrink(drop)))
    for label, drop, change in rows:
        suite, single = failure_rates(runs, change, tolerance, r, weakest)
        lines.append(f"| {label} | {100 * drop:.2f} | {suite:.3f} | {single:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "baseline", nargs="?", type=Path, default=ROOT / "leaderboards/ci-baseline.json"
    )
    parser.add_argument("--replicates", type=int, default=1000, metavar="R")
    args = parser.parse_args(argv)
    print(table(args.baseline, args.replicates), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
