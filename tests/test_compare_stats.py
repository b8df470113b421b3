"""Paired statistics: bootstrap of a difference, sign-flip test, Holm correction.

References are independent: scipy's paired bootstrap, a full enumeration of
all 2^n sign patterns, hand-computed Holm values (the ones statsmodels'
``multipletests(method="holm")`` gives), and a normal approximation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from harness.errors import HarnessError
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test


def _percentile_sd(n_resamples: int, tail: float = 0.025) -> float:
    """Monte Carlo sd of a bootstrap percentile endpoint, in standard errors (see test_stats)."""
    z = scipy.stats.norm.ppf(1 - tail)
    return math.sqrt(tail * (1 - tail) / n_resamples) / scipy.stats.norm.pdf(z)


def _exact_sign_flip_p(strata_a: list[np.ndarray], strata_b: list[np.ndarray]) -> float:
    """Every one of the 2^n sign patterns, weighted like a macro average over strata."""
    diffs = [b - a for a, b in zip(strata_a, strata_b, strict=True)]
    weights = [np.full(len(d), 1 / (len(diffs) * len(d))) for d in diffs]
    d = np.concatenate(diffs) * np.concatenate(weights)
    observed = abs(d.sum())
    hits = sum(
        abs(np.dot(signs, d)) >= observed - 1e-12
        for signs in itertools.product((-1.0, 1.0), repeat=len(d))
    )
    return hits / 2 ** len(d)


@pytest.mark.parametrize("kind", ["reciprocal_rank", "bernoulli"])
def test_paired_interval_agrees_with_scipy_paired_bootstrap(kind: str) -> None:
    rng = np.random.default_rng(5)
    n, n_resamples = 250, 20_000
    if kind == "bernoulli":
        a = (rng.random(n) < 0.5).astype(float)
        b = np.where(rng.random(n) < 0.2, 1 - a, a)
    else:
        a = 1.0 / rng.integers(1, 30, size=n)
        b = np.clip(a + rng.normal(0.03, 0.1, size=n), 0, 1)
    ours = paired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=3)
    reference = scipy.stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis),
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=n_resamples,
        rng=np.random.default_rng(4),
    ).confidence_interval
    se = (b - a).std(ddof=1) / math.sqrt(n)
    # Two Monte Carlo estimates (see test_stats); a 0/1 difference has means on a
    # lattice of step 1/n, so an endpoint may also land one step away.
    lattice = 1 / n if kind == "bernoulli" else 0.0
    tolerance = 5 * math.sqrt(2) * _percentile_sd(n_resamples) * se + lattice
    assert ours[0] == pytest.approx(reference.low, abs=tolerance)
    assert ours[1] == pytest.approx(reference.high, abs=tolerance)


def test_stratified_interval_matches_the_normal_interval_of_a_macro_average() -> None:
    rng = np.random.default_rng(8)
    sizes = (3000, 1000)
    a = [rng.random(n) for n in sizes]
    b = [x + rng.normal(0.02, 0.2, size=len(x)) for x in a]
    low, high = paired_bootstrap_ci(a, b, n_resamples=4000, seed=1)
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    mean = np.mean([d.mean() for d in diffs])
    se = math.sqrt(sum(d.var(ddof=1) / len(d) for d in diffs)) / len(diffs)
    tolerance = 5 * _percentile_sd(4000) * se + 0.05 * se  # Monte Carlo + normality
    assert low == pytest.approx(mean - 1.959964 * se, abs=tolerance)
    assert high == pytest.approx(mean + 1.959964 * se, abs=tolerance)


def test_identical_systems_have_a_zero_interval_and_p_one() -> None:
    a = np.random.default_rng(0).random(80)
    assert paired_bootstrap_ci(a, a.copy()) == (0.0, 0.0)
    assert sign_flip_test(a, a.copy()) == 1.0


def test_a_system_better_on_every_example_is_at_the_resolution_limit() -> None:
    a = np.random.default_rng(1).random(60) * 0.5
    b = a + 0.1
    for n_resamples in (999, 10_000):
        assert sign_flip_test(a, b, n_resamples=n_resamples) == 1 / (n_resamples + 1)
        assert sign_flip_test(b, a, n_resamples=n_resamples) == 1 / (n_resamples + 1)


def test_one_differing_example_can_never_be_significant() -> None:
    a = np.zeros(40)
    b = a.copy()
    b[7] = 1.0  # every sign pattern gives |mean| = 1/40, the observed value
    assert sign_flip_test(a, b) == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_sign_flip_p_agrees_with_full_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    a = 1.0 / rng.integers(1, 6, size=n)  # reciprocal ranks: many ties in the differences
    b = np.where(rng.random(n) < 0.6, 1.0 / rng.integers(1, 4, size=n), a)
    exact = _exact_sign_flip_p([a], [b])
    n_resamples = 40_000
    p = sign_flip_test(a, b, n_resamples=n_resamples, seed=seed)
    sd = math.sqrt(exact * (1 - exact) / n_resamples) + 1 / n_resamples
    assert p == pytest.approx(exact, abs=5 * sd)


def test_stratified_sign_flip_agrees_with_full_enumeration() -> None:
    rng = np.random.default_rng(9)
    a = [rng.random(4), rng.random(7)]
    b = [a[0] + rng.normal(0.3, 0.2, 4), a[1] + rng.normal(0.0, 0.2, 7)]
    exact = _exact_sign_flip_p(a, b)
    p = sign_flip_test(a, b, n_resamples=40_000, seed=2)
    assert p == pytest.approx(exact, abs=5 * math.sqrt(exact * (1 - exact) / 40_000) + 1e-4)


def test_p_values_are_uniform_enough_under_the_null() -> None:
    rng = np.random.default_rng(12)
    p_values = [
        sign_flip_test(a, a + rng.normal(0, 0.1, 30), n_resamples=500, seed=s)
        for s, a in enumerate(rng.random((300, 30)))
    ]
    share = np.mean(np.array(p_values) < 0.05)
    assert 0.02 <= share <= 0.09  # 0.05 +- 3 sd of a proportion over 300 draws


def test_same_seed_same_answer() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(100), rng.random(100)
    assert sign_flip_test(a, b, seed=4) == sign_flip_test(a, b, seed=4)
    assert paired_bootstrap_ci(a, b, seed=4) == paired_bootstrap_ci(a, b, seed=4)


def test_holm_on_a_hand_example() -> None:
    # Sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> max(0.06, 0.04).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.2]) == [0.2]
    assert holm([]) == []
    # Ties keep their order and get the same adjusted value.
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.ones(3), np.ones(4)),
        (np.array([]), np.array([])),
        (np.array([0.1, np.nan]), np.array([0.1, 0.2])),
        ([np.ones(2)], [np.ones(2), np.ones(2)]),
    ],
)
def test_bad_pairs_are_rejected(a, b) -> None:
    with pytest.raises(HarnessError):
        sign_flip_test(a, b)
    with pytest.raises(HarnessError):
        paired_bootstrap_ci(a, b)


def test_holm_rejects_values_that_are_not_probabilities() -> None:
    with pytest.raises(HarnessError):
        holm([0.1, 1.5])
