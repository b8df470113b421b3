"""Bootstrap intervals: agreement with scipy, determinism, shared resamples, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from harness.errors import HarnessError
from harness.stats import bootstrap_ci, bootstrap_cis, summarize


def _percentile_sd(n_resamples: int, tail: float = 0.025) -> float:
    """Monte Carlo sd of a bootstrap percentile endpoint, in standard errors of the mean.

    The tail quantile of B resampled means has sd sqrt(p(1-p)/B) / f(q), with
    f the density of the (near-normal) bootstrap distribution at the quantile:
    phi(1.96) / se. So sd / se = sqrt(p(1-p)/B) / phi(1.96).
    """
    z = scipy.stats.norm.ppf(1 - tail)
    return math.sqrt(tail * (1 - tail) / n_resamples) / scipy.stats.norm.pdf(z)


@pytest.mark.parametrize("distribution", ["uniform", "bernoulli", "reciprocal_rank"])
def test_agrees_with_scipy_percentile_bootstrap(distribution: str) -> None:
    rng = np.random.default_rng(7)
    n, n_resamples = 300, 20_000
    values = {
        "uniform": rng.random(n),
        "bernoulli": (rng.random(n) < 0.3).astype(float),
        "reciprocal_rank": 1.0 / rng.integers(1, 50, size=n),
    }[distribution]
    ours = bootstrap_ci(values, n_resamples=n_resamples, seed=1)
    reference = scipy.stats.bootstrap(
        (values,),
        np.mean,
        method="percentile",
        n_resamples=n_resamples,
        confidence_level=0.95,
        rng=np.random.default_rng(2),
    ).confidence_interval
    # Two independent Monte Carlo estimates of each endpoint: their difference has
    # sd sqrt(2) * _percentile_sd (about 0.027 se at 20,000 resamples); allow 5 sd.
    se = values.std(ddof=1) / math.sqrt(n)
    tolerance = 5 * math.sqrt(2) * _percentile_sd(n_resamples) * se
    assert ours[0] == pytest.approx(reference.low, abs=tolerance)
    assert ours[1] == pytest.approx(reference.high, abs=tolerance)


def test_large_inputs_resampled_in_blocks_match_the_normal_interval() -> None:
    rng = np.random.default_rng(11)
    values = rng.random(20_000)  # 2,000 resamples x 20,000 = 10 blocks of indices
    low, high = bootstrap_ci(values, n_resamples=2_000)
    se = values.std(ddof=1) / math.sqrt(len(values))
    # The mean of 20,000 uniforms is normal to far better than the Monte Carlo error.
    tolerance = 5 * _percentile_sd(2_000) * se
    assert low == pytest.approx(values.mean() - 1.959964 * se, abs=tolerance)
    assert high == pytest.approx(values.mean() + 1.959964 * se, abs=tolerance)


def test_same_seed_same_interval_other_seed_slightly_different() -> None:
    values = np.random.default_rng(3).random(200)
    first = bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) == first
    other = bootstrap_ci(values, seed=6)
    assert other != first
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert np.allclose(other, first, atol=0.3 * se)


@pytest.mark.parametrize("seed", range(5))
def test_interval_contains_the_mean_and_narrows_with_confidence(seed: int) -> None:
    values = 1.0 / np.random.default_rng(seed).integers(1, 20, size=100)
    low, high = bootstrap_ci(values, seed=seed)
    assert low < values.mean() < high
    narrow_low, narrow_high = bootstrap_ci(values, seed=seed, confidence=0.5)
    assert low < narrow_low < values.mean() < narrow_high < high


@pytest.mark.parametrize("values", [[0.25], [0.1, 0.1, 0.1], [1.0] * 50, [0.0] * 7])
def test_one_value_or_equal_values_give_the_mean_as_interval(values: list[float]) -> None:
    mean = float(np.mean(values))
    assert bootstrap_ci(np.array(values)) == (mean, mean)


@pytest.mark.parametrize(
    ("values", "options"),
    [
        ([], {}),
        ([0.1, float("nan")], {}),
        ([[0.1, 0.2]], {}),
        ([0.1, 0.2], {"confidence": 1.0}),
        ([0.1, 0.2], {"confidence": 0.0}),
        ([0.1, 0.2], {"n_resamples": 0}),
    ],
)
def test_bad_input_is_rejected(values, options) -> None:
    with pytest.raises(HarnessError):
        bootstrap_ci(np.array(values), **options)


def test_columns_share_their_resamples() -> None:
    x = np.random.default_rng(4).random(150)
    cis = bootstrap_cis({"x": x, "double": 2 * x, "complement": 1 - x}, seed=9)
    assert cis["x"] == bootstrap_ci(x, seed=9)  # other columns do not change it
    # Same indices: scaling by 2 is exact, so the interval doubles exactly;
    # 1 - x mirrors it (up to rounding).
    assert cis["double"] == (2 * cis["x"][0], 2 * cis["x"][1])
    assert np.allclose(cis["complement"], (1 - cis["x"][1], 1 - cis["x"][0]), atol=1e-12)


def test_columns_of_different_lengths_are_rejected() -> None:
    with pytest.raises(HarnessError):
        bootstrap_cis({"a": np.ones(3), "b": np.ones(4)})


def test_summarize_gives_the_result_file_shape() -> None:
    per_example = [{"mrr": 1.0, "recall@1": 1.0}, {"mrr": 0.5, "recall@1": 0.0}] * 20
    summary = summarize(per_example, ["mrr", "recall@1"], n_resamples=500, seed=3)
    assert set(summary) == {"mrr", "recall@1"}
    assert summary["mrr"]["value"] == pytest.approx(0.75)
    assert summary["recall@1"]["value"] == pytest.approx(0.5)
    for name in ("mrr", "recall@1"):
        entry = summary[name]
        assert set(entry) == {"value", "ci_low", "ci_high"}
        assert entry["ci_low"] < entry["value"] < entry["ci_high"]
    columns = {"mrr": np.array([r["mrr"] for r in per_example])}
    low, high = bootstrap_cis(columns, n_resamples=500, seed=3)["mrr"]
    assert (summary["mrr"]["ci_low"], summary["mrr"]["ci_high"]) == (low, high)


def test_summarize_of_a_constant_metric_has_a_zero_width_interval() -> None:
    summary = summarize([{"mrr": 0.1}] * 3, ["mrr"])
    assert summary["mrr"]["ci_low"] == summary["mrr"]["value"] == summary["mrr"]["ci_high"]


@pytest.mark.parametrize("per_example", [[], [{"mrr": 1.0}, {"ndcg@10": 1.0}]])
def test_summarize_rejects_no_examples_or_a_missing_metric(per_example) -> None:
    with pytest.raises(HarnessError):
        summarize(per_example, ["mrr"])
