"""Paired significance tests of two systems scored on the same examples.

Both tests work on the per-example differences ``d = b - a`` of one metric,
optionally split into strata (partitions) whose means are averaged, as in a
macro-averaged leaderboard column:

- `paired_bootstrap_ci`: percentile interval of the difference of the means.
  Resampling ``d`` with one index matrix is resampling both systems with the
  same indices (sacreBLEU's paired bootstrap); strata are resampled
  separately, each from its own seeded stream.
- `sign_flip_test`: paired approximate randomisation. Under the null the two
  systems are exchangeable on each example, so each difference keeps or
  flips its sign with probability 1/2; the p-value is the share of random
  sign patterns whose absolute (weighted) mean difference is at least the
  observed one, counting the observed pattern: ``(1 + hits) / (1 + R)``. Its
  smallest value, the resolution limit, is ``1 / (1 + R)``.

`holm` adjusts a family of p-values (Holm-Bonferroni, step-down).
All three are vectorised: resamples are rows of matrices, drawn in blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import HarnessError
from harness.stats import _column

_BLOCK_ELEMENTS = 1 << 18
"""At most this many resampled indices are held at once (2 MiB of int64): blocks that
stay in cache draw ~4x faster than 32 MiB ones. numpy's bounded integers are the same
stream however a draw is split into calls, so the block size changes no result."""

_RELATIVE_TOLERANCE = 1e-9
"""Sums that differ by less than this share of sum(|d|) count as equal (summation order)."""

Strata = Sequence[np.ndarray]


def paired_bootstrap_ci(
    a: np.ndarray | Strata,
    b: np.ndarray | Strata,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(b) - mean(a)`` over paired examples.

    `a` and `b` are one array each, or lists of arrays (strata, e.g.
    partitions): then the statistic is the mean over strata of the per-stratum
    mean difference, and each stratum is resampled on its own.

    >>> paired_bootstrap_ci(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    (0.0, 0.0)
    """
    if not 0.0 < confidence < 1.0:
        raise HarnessError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    diffs = _paired_differences(a, b, n_resamples)
    if all(np.all(d == d[0]) for d in diffs):
        mean = float(np.mean([d.mean() for d in diffs]))
        return (mean, mean)  # nothing varies: no resampling artefact
    means = np.zeros(n_resamples)
    for stratum, d in enumerate(diffs):
        rng = np.random.default_rng((seed, stratum))
        block = max(1, _BLOCK_ELEMENTS // len(d))
        for start in range(0, n_resamples, block):
            stop = min(start + block, n_resamples)
            indices = rng.integers(0, len(d), size=(stop - start, len(d)))
            means[start:stop] += d[indices].mean(axis=1)
    means /= len(diffs)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return (float(low), float(high))


def sign_flip_test(
    a: np.ndarray | Strata,
    b: np.ndarray | Strata,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of a paired approximate-randomisation (sign-flip) test.

    Identical systems give p = 1; a system better on every one of many
    examples gives the resolution limit ``1 / (n_resamples + 1)``. With strata,
    example ``i`` of stratum ``s`` weighs ``1 / (S * n_s)``, the statistic of
    a macro average.

    >>> sign_flip_test(np.array([0.2, 0.4]), np.array([0.2, 0.4]))
    1.0
    """
    diffs = _paired_differences(a, b, n_resamples)
    weights = np.concatenate([np.full(len(d), 1.0 / (len(diffs) * len(d))) for d in diffs])
    weighted = np.concatenate(diffs) * weights
    observed = abs(weighted.sum())
    threshold = observed - _RELATIVE_TOLERANCE * np.abs(weighted).sum()
    rng = np.random.default_rng(seed)
    n = len(weighted)
    block = max(1, _BLOCK_ELEMENTS // n)
    hits = 0
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        signs = rng.integers(0, 2, size=(rows, n)).astype(np.float64) * 2.0 - 1.0
        hits += int(np.count_nonzero(np.abs(signs @ weighted) >= threshold))
    return (1.0 + hits) / (1.0 + n_resamples)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The k-th smallest of m p-values (k from 0) is multiplied by ``m - k``,
    capped at 1, and made non-decreasing along the sorted order; rejecting
    where the adjusted value is below alpha controls the family-wise error.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    values = np.asarray(p_values, dtype=np.float64)
    if values.ndim != 1 or np.any((values < 0) | (values > 1)) or np.any(np.isnan(values)):
        raise HarnessError("p-values must be a list of numbers in [0, 1]")
    m = len(values)
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, values[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(p) for p in adjusted]


def _paired_differences(
    a: np.ndarray | Strata, b: np.ndarray | Strata, n_resamples: int
) -> list[np.ndarray]:
    """``b - a`` per stratum, checked: same shapes, finite, not empty."""
    if n_resamples < 1:
        raise HarnessError(f"n_resamples must be at least 1, got {n_resamples}")
    strata_a = [a] if isinstance(a, np.ndarray) else list(a)
    strata_b = [b] if isinstance(b, np.ndarray) else list(b)
    if not strata_a or len(strata_a) != len(strata_b):
        raise HarnessError(
            f"paired test needs the same strata on both sides, got {len(strata_a)} "
            f"and {len(strata_b)}"
        )
    diffs = []
    for x, y in zip(strata_a, strata_b, strict=True):
        x, y = _column("a", x), _column("b", y)
        if len(x) != len(y):
            raise HarnessError(f"paired samples differ in length: {len(x)} and {len(y)}")
        if len(x) == 0:
            raise HarnessError("cannot test an empty set of examples")
        diffs.append(y - x)
    return diffs
