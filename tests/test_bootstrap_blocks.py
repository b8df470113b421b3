"""The bootstrap draws its resamples in small cache-sized blocks: the same numbers as one
index matrix drawn at once, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest

from harness import significance, stats
from harness.significance import paired_bootstrap_ci, sign_flip_test
from harness.stats import bootstrap_cis


def _one_matrix_interval(d: np.ndarray, n_resamples: int, seed, confidence=0.95):
    """The textbook percentile bootstrap: every resample's indices drawn in one matrix."""
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_resamples, len(d)))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return tuple(np.percentile(means, [tail, 100 - tail]))


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    a = rng.random(3001)
    return a, np.clip(a + rng.normal(0.02, 0.2, a.size), 0, 1)


@pytest.mark.parametrize("block", [1, 1000, 1 << 18, 1 << 22])
def test_paired_interval_is_the_one_matrix_interval_for_any_block_size(monkeypatch, scores, block):
    a, b = scores
    monkeypatch.setattr(significance, "_BLOCK_ELEMENTS", block)
    got = paired_bootstrap_ci(a, b, n_resamples=700, seed=3)
    assert got == pytest.approx(_one_matrix_interval(b - a, 700, (3, 0)), abs=1e-12)


@pytest.mark.parametrize("block", [1, 4096, 1 << 22])
def test_metric_intervals_do_not_depend_on_the_block_size(monkeypatch, scores, block):
    a, b = scores
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 1 << 18)
    reference = bootstrap_cis({"a": a, "b": b}, n_resamples=500, seed=9)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", block)
    assert bootstrap_cis({"a": a, "b": b}, n_resamples=500, seed=9) == reference
    assert reference["a"] == pytest.approx(_one_matrix_interval(a, 500, 9), abs=1e-12)


@pytest.mark.parametrize("block", [1, 5000, 1 << 22])
def test_sign_flip_p_does_not_depend_on_the_block_size(monkeypatch, scores, block):
    a, b = scores
    monkeypatch.setattr(significance, "_BLOCK_ELEMENTS", 1 << 18)
    reference = sign_flip_test(a, b, n_resamples=999, seed=4)
    monkeypatch.setattr(significance, "_BLOCK_ELEMENTS", block)
    assert sign_flip_test(a, b, n_resamples=999, seed=4) == reference
