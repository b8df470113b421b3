"""Hypernetwork controls that can neither flatter nor hide (issue 16, point 6).

- The mean-adapter control averages the *training* repositories' updates without the
  scored repository: with one evaluated repository it is not that repository's adapter.
- The collapse flag reads the updates ``B A``: an untrained network (every B = 0) writes
  identical, zero updates and is collapsed; one repository leaves the flag unknown.
- The blind Evo ablation is blind to the number of commits too.

Every expected value is computed here from explicit matrices (``B @ A`` per module).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.plugins.hypernet import controls as ctl
from harness.plugins.hypernet.functional import Adapters, find_targets
from tests.test_hypernet import (
    LEAVES,
    _lm,
    _network,
    _random_adapters,
    _strategy,
    one_thread,  # noqa: F401  (an autouse fixture: one thread)
)
from tests.tiny_models import make_tiny_causal_lm


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory):
    return _lm(make_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "gpt2", architecture="gpt2"))


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    from tests.synthetic_repos import write_synthetic_repositories

    folder = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_repositories(folder, n_train=6, n_test=3, per_repo=2)


def _updates(adapters: Adapters) -> dict[str, torch.Tensor]:
    """Every adapter's explicit update per module, (n, out, in), in float64."""
    return {
        p: torch.einsum("nor,nri->noi", b.double(), a.double())
        for p, (a, b) in adapters.factors.items()
    }


def _flat_updates(adapters: Adapters) -> np.ndarray:
    updates = _updates(adapters)
    return torch.cat([u.reshape(adapters.count, -1) for u in updates.values()], 1).numpy()


# --- the collapse flag --------------------------------------------------------------------------


def test_an_untrained_network_is_collapsed_and_one_repository_is_unknown(gpt2):
    network = _network(gpt2, LEAVES["gpt2"])
    with torch.no_grad():
        adapters = network(torch.randn(4, 12, generator=torch.Generator().manual_seed(0)))
    assert not _flat_updates(adapters).any()  # B = 0: every update is the zero matrix
    found = ctl.diversity(adapters, 0.99)
    # four identical (zero) updates: cosine 1, collapsed
    assert found["mean_update_cosine"] == 1.0 and found["collapsed"] is True
    # the factors' cosine is still reported, but it is not what the flag reads
    factors = adapters.flat().numpy()
    factors /= np.linalg.norm(factors, axis=1, keepdims=True)
    assert found["mean_cosine"] == pytest.approx(
        (factors @ factors.T)[~np.eye(4, dtype=bool)].mean(), abs=1e-5
    )
    assert found["collapse_reads"] == "mean_update_cosine"
    one = ctl.diversity(adapters.select(0), 0.99)
    assert one["collapsed"] is None and one["mean_update_cosine"] is None


def test_identical_updates_from_different_factors_are_collapsed(gpt2):
    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    base = _random_adapters(targets, n=1, rank=2, seed=5)
    # B A = (2 B)(A / 2): the same update, other factors
    twin = Adapters({p: (a / 2, b * 2) for p, (a, b) in base.factors.items()}, base.scaling)
    pair = Adapters(
        {p: (torch.cat([a, twin.factors[p][0]]), torch.cat([b, twin.factors[p][1]]))
         for p, (a, b) in base.factors.items()},
        base.scaling,
    )  # fmt: skip
    found = ctl.diversity(pair, 0.99)
    assert found["mean_update_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert found["collapsed"] is True
    different = ctl.diversity(_random_adapters(targets, n=3, rank=2, seed=6), 0.99)
    flat = _flat_updates(_random_adapters(targets, n=3, rank=2, seed=6))
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    by_hand = (flat @ flat.T)[~np.eye(3, dtype=bool)].mean()
    assert different["mean_update_cosine"] == pytest.approx(by_hand, abs=1e-5)
    assert different["collapsed"] is False


# --- the mean adapter ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 40])  # 3 x rank 2 stacks; 40 x 2 passes GPT-2's 32 width
def test_the_update_sum_is_exact_stacked_or_dense(gpt2, n):
    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    adapters = _random_adapters(targets, n=n, rank=2, seed=7)
    weights = np.linspace(-1, 2, n)
    total = ctl.UpdateSum({t.path: 2 * n for t in targets}, adapters.scaling)
    for i in range(n):
        total.add(float(weights[i]), adapters.select(i))
    combined = _updates(total.result())
    for path, explicit in _updates(adapters).items():
        by_hand = torch.einsum("n,noi->oi", torch.as_tensor(weights), explicit)
        torch.testing.assert_close(combined[path][0], by_hand, atol=1e-4, rtol=1e-4)


def test_leave_one_out_means_leave_the_scored_repository_out(gpt2):
    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    pool = [f"repo{i}" for i in range(20)]  # more than one chunk of 16
    written = _random_adapters(targets, n=len(pool), rank=2, seed=8)
    index = {name: i for i, name in enumerate(pool)}

    def write(repos: list[str]) -> Adapters:
        return written.select([index[r] for r in repos])

    explicit = _updates(written)
    means = ctl.leave_one_out_means(write, pool, ["repo3", "unseen"], lambda r: write([r]), rank=2)
    assert means["repo3"][1] == 19 and means["unseen"][1] == 20
    keep = [i for i in range(20) if i != 3]
    for path, updates in explicit.items():
        loo = _updates(means["repo3"][0])[path][0]
        torch.testing.assert_close(loo, updates[keep].mean(0), atol=1e-5, rtol=1e-4)
        whole = _updates(means["unseen"][0])[path][0]
        torch.testing.assert_close(whole, updates.mean(0), atol=1e-5, rtol=1e-4)
    # a pool of only the scored repository has no mean to offer
    assert ctl.leave_one_out_means(write, ["repo3"], ["repo3"], lambda r: write([r]), 2) == {}


def test_with_one_evaluated_repository_the_mean_adapter_is_not_its_own(
    gpt2, small_data, tiny_bert, tmp_path
):
    name = sorted(small_data.partitions)[0]
    one = dataclasses.replace(small_data, partitions={name: small_data.partitions[name]})
    strategy = _strategy("hypernet-static", tmp_path, tiny_bert, lr=0.05, warmup_steps=0)
    strategy.config(one)
    strategy.prepare(gpt2, one)
    training = sorted({e.repo for e in one.train})
    assert name not in training and len(training) == 6
    # the mean of the six training repositories' updates, each written on its own
    explicit = [_updates(strategy.adapters_for([(r, 0)])) for r in training]
    control = _updates(strategy.mean_adapters[name])
    own = _updates(strategy.current_adapter(name))
    for path in control:
        by_hand = torch.stack([e[path][0] for e in explicit]).mean(0)
        torch.testing.assert_close(control[path][0], by_hand, atol=1e-5, rtol=1e-4)
    distance = sum(float((control[p][0] - own[p][0]).norm()) for p in control)
    assert distance > 1e-3  # not the scored repository's own adapter
    info = strategy.model_for(gpt2, one.partitions[name]).info["controls"]
    assert info["mean_adapter_of"]["n"] == 6
    assert info["diversity"]["collapsed"] is None  # one evaluated repository: unknown


# --- the blind Evo ablation ---------------------------------------------------------------------


def test_the_blind_evo_state_does_not_count_the_commits(gpt2):
    from harness.plugins.hypernet.training import RepositoryInputs, network_inputs

    network = _network(gpt2, LEAVES["gpt2"], input_dim=12, evo=True, diff_dim=5, state_dim=7)
    generator = torch.Generator().manual_seed(4)
    inputs = RepositoryInputs(
        {"a": torch.randn(12, generator=generator), "b": torch.randn(12, generator=generator)},
        {"a": torch.randn(3, 5, generator=generator), "b": torch.randn(1, 5, generator=generator)},
    )
    conditions = [("a", 0), ("a", 1), ("a", 3), ("b", 0), ("b", 1)]
    with torch.no_grad():
        blind = network_inputs(network, inputs, conditions, constant=True)
        # what a zero input gives: h_0 of the zero vector, and no step taken
        zero_state = network.initial_state(torch.zeros(1, 12))[0]
    for row in blind:
        torch.testing.assert_close(row, zero_state)


# --- multiplicity -------------------------------------------------------------------------------


def test_the_control_report_holm_corrects_each_partitions_tests(tmp_path):
    """`harness hypernet controls`: the two controls of a partition are one family (as a
    leaderboard column's tests): the smaller p doubled, the larger at least that."""
    from test_compare import write_run

    from harness.plugins.hypernet.report import control_rows, render

    n = 16
    rng = np.random.default_rng(5)
    for partition in ("alpha", "beta"):
        ids = [f"{partition}{i}" for i in range(n)]
        system = (rng.random(n) < 0.8).astype(float)
        controls = {
            "metric": "exact_match",
            "diversity": {"n_adapters": 2, "mean_update_cosine": 0.5, "collapsed": False},
            "per_example": {"ids": ids, "shuffled": (system * (rng.random(n) < 0.5)).tolist(),
                            "mean_adapter": (system * (rng.random(n) < 0.8)).tolist()},
        }  # fmt: skip
        write_run(tmp_path / "store", {"exact_match": system}, ids=ids, model="lm",
                  strategy="hypernet-static", task="rc", partition=partition,
                  config={"encoder_info": {"controls": controls}})  # fmt: skip
    rows = control_rows(tmp_path / "store")
    assert [r.partition for r in rows] == ["alpha", "beta", "(all)"]
    for row in rows:
        raw = {name: test.p_value for name, test in row.tests.items()}
        low, high = sorted(raw.values())
        for name, test in row.tests.items():
            first = min(1.0, 2 * low)
            expected = first if raw[name] == low else max(first, high)
            assert test.p_holm == pytest.approx(expected), (row.partition, name)
    assert "p (Holm)" in render(rows)
