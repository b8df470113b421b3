"""Replicates: runs that differ only in the seed, and the test of a difference over them.

A run's seed draws the `local` split, the training (initialisation, dropout, data order)
and the bootstrap, so a difference between two systems varies from seed to seed as well
as from example to example. Results with the same ``config["replicate_of"]`` are one
system's replicates; two systems are paired seed by seed (same seed, same examples).

`replicate_test` takes, for each common seed, the per-example differences ``d = b - a``
(optionally in strata, e.g. partitions, whose means are averaged) and tests their mean
``D`` (the mean over seeds of each seed's mean difference) with a t statistic whose
standard error carries both sources of variance:

- each seed's mean ``D_s`` varies with the seed: ``v_seed = var(D_s) / S``; when the
  seeds were scored on different examples (a seed draws its own `local` split) the
  examples' sampling is inside that spread too, and that is all;
- when every seed was scored on the same examples, what an example adds is shared by
  all seeds and invisible in ``var(D_s)``: ``v_example = var(m_i) / n`` over the
  per-example means ``m_i`` of the seeds is added (this counts the seed-by-example
  residual twice, so it errs on the safe side by ``var_residual / (n S)``).

``SE² = v_seed + v_example``, degrees of freedom by Welch-Satterthwaite, two-sided p and
a 95% interval from Student's t. With 3 seeds a bootstrap over seeds has 10 distinct
resamples and understates the seeds' spread by a third; the t interval is the exact
small-sample answer when the ``D_s`` are normal, as means of hundreds of examples nearly
are. Fewer than two common seeds: no seed variance can be measured (callers fall back to
the example-level sign-flip test and say so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError

Strata = Sequence[np.ndarray]


@dataclass(frozen=True)
class ReplicateTest:
    """``B - A`` over seeds and examples."""

    difference: float
    se: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    n_seeds: int
    shared_examples: bool  # every seed scored on the same examples (crossed design)


def seed_spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample sd) of one value over seeds; the sd is nan for a single seed.

    >>> seed_spread([0.5, 0.7])
    (0.6, 0.1414213562373095)
    """
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if len(array) > 1 else float("nan")
    return float(array.mean()), sd


def replicate_test(
    a: Sequence[Strata], b: Sequence[Strata], *, shared_examples: bool, confidence: float = 0.95
) -> ReplicateTest:
    """The t test of ``mean(b) - mean(a)`` over seeds and examples (see the module doc).

    ``a[s][k]`` and ``b[s][k]`` are seed s's per-example scores of stratum k, paired by
    position; with `shared_examples`, position i is one example in every seed.
    """
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        raise HarnessError("a replicate test needs two or more seeds on both sides")
    diffs = [
        [
            np.asarray(y, dtype=float) - np.asarray(x, dtype=float)
            for x, y in zip(xs, ys, strict=True)
        ]
        for xs, ys in zip(a, b, strict=True)
    ]
    n_seeds, n_strata = len(diffs), len(diffs[0])
    per_seed = np.array([np.mean([d.mean() for d in strata]) for strata in diffs])
    difference = float(per_seed.mean())
    v_seed = float(per_seed.var(ddof=1)) / n_seeds
    parts = [(v_seed, n_seeds - 1)]
    if shared_examples:
        for k in range(n_strata):
            means = np.mean([strata[k] for strata in diffs], axis=0)  # over seeds
            if len(means) > 1:
                parts.append((float(means.var(ddof=1)) / len(means) / n_strata**2, len(means) - 1))
    variance = sum(v for v, _ in parts)
    se = float(np.sqrt(variance))
    if se == 0.0:  # every seed and example gave one difference
        p = 1.0 if difference == 0.0 else 0.0
        return ReplicateTest(difference, 0.0, float("inf"), p, difference, difference,
                             n_seeds, shared_examples)  # fmt: skip
    df = variance**2 / sum(v**2 / dof for v, dof in parts if v > 0)
    t = difference / se
    p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return ReplicateTest(difference, se, float(df), p, difference - half, difference + half,
                         n_seeds, shared_examples)  # fmt: skip


_SEED_IN_LABEL = re.compile(r"(^|,)seed=\d+(?=,|$)")


def without_seed(label: str) -> str:
    """A strategy label with its ``seed=N`` part removed: what its replicates share.

    >>> without_seed("taskwise r=8,seed=2"), without_seed("none seed=1")
    ('taskwise r=8', 'none')
    """
    name, _, variant = label.partition(" ")
    rest = _SEED_IN_LABEL.sub(lambda m: "", variant).strip(",")
    return f"{name} {rest}" if rest else name


def replicate_of(result: Any) -> str:
    """The key a result's replicates share (its own path-like identity when not recorded)."""
    key = (result.config or {}).get("replicate_of")
    return str(key) if key else f"{result.model}/{result.strategy}/{id(result)}"
