"""Paired bootstrap: harness's vectorised interval against a plain Python loop.

10,000 resamples over 20,000 paired examples (harness.significance.
paired_bootstrap_ci). The peer is the loop one writes without numpy: for each
resample, n times draw an index with `random.randrange` and add the difference.
A second, faster Python peer draws each resample with `random.choices` (its
loop runs in a list comprehension) and is reported beside it. Both take
minutes for all 10,000 resamples, so each round times them on a few (50 and
200) and scales up (the cost is linear in the resamples: every one costs the
same); the intervals are compared on a separate full run at a smaller size,
within Monte Carlo error. harness also reports its CPU time (it runs on one
core), which a busy machine disturbs less than wall time.

    python -m pytest benchmarks/test_bench_bootstrap.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import random
import time

import numpy as np
from sidebyside import report, side_by_side, smoke

from harness.significance import paired_bootstrap_ci

N_EXAMPLES, N_RESAMPLES, ROUNDS = 20_000, 10_000, 5
LOOP_RESAMPLES, CHOICES_RESAMPLES = 50, 200  # what each round times of the two peers


def python_loop_interval(a: list[float], b: list[float], n_resamples: int, seed: int = 0):
    """The paired percentile bootstrap as a plain Python loop."""
    rng = random.Random(seed)
    n = len(a)
    means = []
    for _ in range(n_resamples):
        total = 0.0
        for _ in range(n):
            i = rng.randrange(n)
            total += b[i] - a[i]
        means.append(total / n)
    means.sort()
    return means[int(0.025 * (n_resamples - 1))], means[int(0.975 * (n_resamples - 1))]


def choices_interval(a: list[float], b: list[float], n_resamples: int, seed: int = 0):
    """The same with `random.choices` drawing each resample."""
    rng = random.Random(seed)
    differences = [y - x for x, y in zip(a, b, strict=True)]
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(n_resamples))
    return means[int(0.025 * (n_resamples - 1))], means[int(0.975 * (n_resamples - 1))]


def _scores(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.random(n)  # per-example scores of system A (e.g. reciprocal ranks)
    return a, np.clip(a + rng.normal(0.01, 0.2, n), 0.0, 1.0)


def test_paired_bootstrap_against_a_python_loop(benchmark) -> None:
    n, resamples, loop_resamples, choices_resamples = (
        N_EXAMPLES, N_RESAMPLES, LOOP_RESAMPLES, CHOICES_RESAMPLES)  # fmt: skip
    if smoke(benchmark):
        n, resamples, loop_resamples, choices_resamples = 2_000, 200, 5, 20
    a, b = _scores(n)
    a_list, b_list = a.tolist(), b.tolist()
    cpu: list[float] = []
    choices_s: list[float] = []

    def peers() -> None:
        started = time.perf_counter()
        choices_interval(a_list, b_list, choices_resamples)
        choices_s.append((time.perf_counter() - started) * resamples / choices_resamples)
        python_loop_interval(a_list, b_list, loop_resamples)  # timed by side_by_side

    def ours() -> None:
        started = time.process_time()
        paired_bootstrap_ci(a, b, n_resamples=resamples, seed=0)
        cpu.append(time.process_time() - started)

    record = side_by_side(benchmark, peers, ours, rounds=1 if smoke(benchmark) else ROUNDS)
    # the plain loop's time, without the choices peer timed in the same setup, scaled up
    record.peer_s = [
        (total - chosen * choices_resamples / resamples) * resamples / loop_resamples
        for total, chosen in zip(record.peer_s, choices_s, strict=True)
    ]

    # the same interval, within Monte Carlo error (a full peer run, smaller)
    small_a, small_b = _scores(2_000)
    ours_ci = paired_bootstrap_ci(small_a, small_b, n_resamples=2_000, seed=0)
    peer_ci = choices_interval(small_a.tolist(), small_b.tolist(), 2_000)
    width = ours_ci[1] - ours_ci[0]
    assert abs(ours_ci[0] - peer_ci[0]) < 0.1 * width and abs(ours_ci[1] - peer_ci[1]) < 0.1 * width

    choices_ratios = [c / h for c, h in zip(choices_s, record.harness_s, strict=True)]
    figures = report(
        benchmark, "paired bootstrap", record,
        peer=f"plain Python loop (random.randrange per draw), timed on {loop_resamples} "
        f"resamples, scaled x{resamples / loop_resamples:g}",
        examples=n, resamples=resamples, harness_cpu_median_s=float(np.median(cpu)),
        choices_peer_median_s=float(np.median(choices_s)),
        choices_ratio_median=float(np.median(choices_ratios)),
        choices_ratio_range=(min(choices_ratios), max(choices_ratios)),
        interval=ours_ci, peer_interval=peer_ci,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 50
