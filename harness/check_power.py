"""The decision rule of `harness check` and the smallest drop it can detect.

For one run and one metric, ``d = now - baseline`` per example. The check
tests the null hypothesis "the mean drop is at most the tolerance"
(``mean(d) >= -tolerance``) against "it is larger", with a one-sided paired
t-test on ``d`` shifted by the tolerance. A comparison fails when its
Holm-adjusted p-value is below alpha; with one comparison that is exactly
"the one-sided (1 - alpha) upper confidence bound of the mean difference lies
below -tolerance": the whole paired interval is beyond the tolerance. Unlike
a sign-flip test, whose smallest p-value is ``2 ** -n``, the t-test can fail
a suite of 5 examples that all lost their score.

The detectable drop, stated before a check runs, is the smallest mean drop
the rule catches 4 times in 5 (power 0.8, simulated) when the drop is spread
the worst way a drop can be: random examples lose their whole score (for a
fixed mean drop, all-or-nothing changes in ``[-a_i, 0]`` have the largest
variance). It needs only the baseline's scores, n, alpha and the number of
comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.significance import holm

POWER = 0.8
"""The detectable drop is caught with this probability."""

REPLICATES = 2000
"""Simulated suites per power estimate (a standard error of 0.009 at power 0.8)."""

_BLOCK_ELEMENTS = 1 << 20
"""At most this many simulated example scores are held at once (8 MiB)."""

REQUIRED = 2.0
"""A suite must detect a drop of this many tolerances (one tolerance beyond the margin)."""


@dataclass(frozen=True)
class MarginTest:
    """One comparison: the p-value of "mean drop <= tolerance" and the upper bound."""

    p_value: float
    upper: float
    """One-sided upper confidence bound of ``mean(now - baseline)`` at the asked level."""


def margin_test(d: np.ndarray, tolerance: float, level: float) -> MarginTest:
    """One-sided paired t-test of ``mean(d) >= -tolerance``; bound at confidence ``1 - level``.

    >>> margin_test(np.array([-1.0, -1.0, -1.0]), 0.01, 0.05)
    MarginTest(p_value=0.0, upper=-1.0)
    """
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        return MarginTest(1.0, math.inf)  # one example has no spread to test against
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        # every example moved by the same amount: no sampling doubt is left
        return MarginTest(0.0 if mean < -tolerance else 1.0, mean)
    se = sd / math.sqrt(n)
    p = float(stats.t.cdf((mean + tolerance) / se, n - 1))
    return MarginTest(p, mean + float(stats.t.ppf(1.0 - level, n - 1)) * se)


@dataclass(frozen=True)
class Decision:
    """What the rule says about one comparison."""

    status: str
    """same (identical example by example), up, drop within tolerance, or DROP."""
    upper: float
    p_holm: float


def decide(differences: Sequence[np.ndarray], tolerance: float, alpha: float) -> list[Decision]:
    """The rule over a family: identical comparisons are "same" and stay out of it; the
    others are tested at alpha / (their number) and Holm-corrected together.

    >>> [d.status for d in decide([np.zeros(3), -np.ones(3)], 0.01, 0.05)]
    ['same', 'DROP']
    """
    tested = [i for i, d in enumerate(differences) if np.any(d != 0)]
    tests = {i: margin_test(differences[i], tolerance, alpha / len(tested)) for i in tested}
    adjusted = dict(zip(tested, holm([tests[i].p_value for i in tested]), strict=True))
    decisions = []
    for i, d in enumerate(differences):
        if i not in tests:
            decisions.append(Decision("same", 0.0, 1.0))
            continue
        p = adjusted[i]
        status = "DROP" if p < alpha else "up" if d.mean() >= 0 else "drop within tolerance"
        decisions.append(Decision(status, tests[i].upper, p))
    return decisions


def detectable_drop(
    baseline: np.ndarray, tolerance: float, alpha: float, m: int, *, seed: int = 0
) -> float:
    """The smallest mean drop the rule catches with probability `POWER` among `m` comparisons.

    Worst case: each example loses its whole score with probability ``q``
    (a mean drop of ``q * mean(a)``). The power of the rule itself is
    simulated, `REPLICATES` times with the same draws for every drop, and the
    drop found by bisection to 1e-4. ``inf`` when not even losing everything
    is caught (fewer than 2 examples, or a mean score within the tolerance).

    >>> round(detectable_drop(np.ones(5), 0.01, 0.05, 1), 2)
    0.67
    """
    n, mean = len(baseline), float(np.mean(baseline)) if len(baseline) else 0.0
    if n < 2 or mean <= tolerance:
        return math.inf
    draws = np.random.default_rng(seed).random((REPLICATES, n))
    critical = float(stats.t.ppf(1.0 - alpha / m, n - 1)) / math.sqrt(n)

    def power(drop: float) -> float:
        caught = 0
        for start in range(0, REPLICATES, max(1, _BLOCK_ELEMENTS // n)):
            block = draws[start : start + max(1, _BLOCK_ELEMENTS // n)]
            d = np.where(block < drop / mean, -baseline, 0.0)
            # the rule of margin_test: the upper bound below -tolerance (sd 0: the mean)
            upper = d.mean(axis=1) + critical * d.std(axis=1, ddof=1)
            caught += int(np.count_nonzero(upper < -tolerance))
        return caught / REPLICATES

    if power(mean) < POWER:
        return math.inf
    low, high = tolerance, mean
    while high - low > 1e-4:
        middle = (low + high) / 2
        low, high = (low, middle) if power(middle) >= POWER else (middle, high)
    return high
