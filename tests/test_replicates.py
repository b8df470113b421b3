"""Replicates over seeds: the t test over seeds and examples, `--seeds`, and the across-seed
mean and spread in `harness compare` and `harness leaderboard`.

The test statistic is checked against scipy (seeds scored on different examples: a one
sample t test of the per-seed mean differences) and a hand computation (seeds on the same
examples); a simulation shows why the example-level test alone is not enough.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.cli import build_parser, main
from harness.compare import compare_paths
from harness.errors import HarnessError
from harness.exp_config import spec_from_args
from harness.matrix import expand
from harness.replicates import replicate_test, seed_spread, without_seed
from harness.results import MetricValue, Result, result_path, write_result
from harness.significance import sign_flip_test
from harness.stats import summarize

# --- the test -----------------------------------------------------------------------------


def test_seeds_on_different_examples_is_a_t_test_of_the_per_seed_means():
    rng = np.random.default_rng(4)
    a = [[rng.random(n)] for n in (30, 40, 35)]  # each seed its own split: other examples
    b = [[x[0] + rng.normal(0.05, 0.2, len(x[0]))] for x in a]
    test = replicate_test(a, b, shared_examples=False)
    per_seed = [y[0].mean() - x[0].mean() for x, y in zip(a, b, strict=True)]
    reference = stats.ttest_1samp(per_seed, 0.0)
    assert test.difference == pytest.approx(np.mean(per_seed))
    assert test.df == pytest.approx(2)
    assert test.p_value == pytest.approx(reference.pvalue)
    low, high = reference.confidence_interval(0.95)
    assert (test.ci_low, test.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_seeds_on_the_same_examples_add_the_examples_variance_by_hand():
    # differences: seed 0 [0, 1, 2] (mean 1), seed 1 [1, 1, 4] (mean 2); D = 1.5
    a = [[np.zeros(3)], [np.zeros(3)]]
    b = [[np.array([0.0, 1.0, 2.0])], [np.array([1.0, 1.0, 4.0])]]
    test = replicate_test(a, b, shared_examples=True)
    # seeds: var(1, 2) / 2 = 0.25; examples: means 0.5, 1, 3 -> var 1.75, / 3 = 7/12
    variance = 0.25 + 7 / 12
    df = variance**2 / (0.25**2 / 1 + (7 / 12) ** 2 / 2)
    assert test.difference == 1.5 and test.shared_examples
    assert test.se == pytest.approx(np.sqrt(variance))
    assert test.df == pytest.approx(df)
    assert test.p_value == pytest.approx(2 * stats.t.sf(1.5 / np.sqrt(variance), df))
    half = stats.t.ppf(0.975, df) * np.sqrt(variance)
    assert (test.ci_low, test.ci_high) == (pytest.approx(1.5 - half), pytest.approx(1.5 + half))


def test_strata_are_averaged_like_a_macro_mean():
    a = [[np.zeros(2), np.zeros(4)], [np.zeros(2), np.zeros(4)]]
    b = [[np.array([0.2, 0.4]), np.full(4, 0.1)], [np.array([0.4, 0.6]), np.full(4, 0.3)]]
    test = replicate_test(a, b, shared_examples=False)
    assert test.difference == pytest.approx(np.mean([(0.3 + 0.1) / 2, (0.5 + 0.3) / 2]))
    assert test.se == pytest.approx(np.std([0.2, 0.4], ddof=1) / np.sqrt(2))


def test_one_seed_is_refused_and_equal_systems_give_p_one():
    with pytest.raises(HarnessError, match="two or more seeds"):
        replicate_test([[np.ones(3)]], [[np.ones(3)]], shared_examples=True)
    same = [[np.array([0.1, 0.9])], [np.array([0.3, 0.5])]]
    assert replicate_test(same, same, shared_examples=True).p_value == 1.0


def test_a_training_seed_effect_fools_the_example_test_but_not_this_one():
    """No true difference; each seed's training shifts B by N(0, 0.05) on every example.
    The sign-flip test on the per-example means over 3 seeds sees only example noise and
    rejects far above alpha; the test over seeds and examples stays near it."""
    rng = np.random.default_rng(0)
    n, seeds, trials = 200, 3, 300
    flip = ours = 0
    for _ in range(trials):
        base = rng.random(n)
        a = [[base + rng.normal(0, 0.05, n)] for _ in range(seeds)]
        b = [[base + rng.normal(0, 0.05) + rng.normal(0, 0.05, n)] for _ in range(seeds)]
        mean_a = np.mean([x[0] for x in a], axis=0)
        mean_b = np.mean([y[0] for y in b], axis=0)
        flip += sign_flip_test(mean_a, mean_b, n_resamples=199, seed=1) < 0.05
        ours += replicate_test(a, b, shared_examples=True).p_value < 0.05
    assert flip / trials > 0.4
    assert ours / trials < 0.1


def test_spread_and_labels():
    assert seed_spread([0.6]) == (0.6, pytest.approx(float("nan"), nan_ok=True))
    assert seed_spread([0.2, 0.4, 0.9])[1] == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1))
    assert without_seed("taskwise seed=12") == "taskwise"
    assert without_seed("taskwise r=8,seed=1,dim=4") == "taskwise r=8,dim=4"
    assert without_seed("none") == "none"


# --- --seeds ------------------------------------------------------------------------------


def _cells(*argv: str) -> list:
    return expand(spec_from_args(build_parser().parse_args(["run", *argv])))


def test_seeds_make_one_cell_per_seed():
    cells = _cells(
        "--model", "m", "--task", "t2c", "--strategy", "none,taskwise", "--seeds", "0,1,2"
    )
    assert [(c.request.strategy, c.request.seed) for c in cells] == [
        ("none", 0), ("none", 1), ("none", 2), ("taskwise", 0), ("taskwise", 1), ("taskwise", 2)
    ]  # fmt: skip


def test_seeds_in_a_config_file_and_their_mistakes(tmp_path: Path, capsys):
    config = tmp_path / "exp.toml"
    config.write_text('model = "m"\ntask = "t2c"\nseeds = [3, 5]\n')
    assert [c.request.seed for c in _cells("--config", str(config))] == [3, 5]
    assert [c.request.seed for c in _cells("--config", str(config), "--seeds", "7")] == [7]
    with pytest.raises(HarnessError, match="--seed or --seeds"):
        _cells("--config", str(config), "--seed", "1")
    for bad in ("0,0", "1,x", "-1"):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(["run", "--seeds", bad])
        assert stopped.value.code == 2
    assert "--seeds: '0,0': expected distinct seeds" in capsys.readouterr().err


# --- compare and leaderboard over replicates ----------------------------------------------


def _replicate(root: Path, strategy: str, seed: int, values: np.ndarray, ids: list[str]) -> None:
    """One seed's run as `harness run --seed` stores it: seed 0 plain, others labelled."""
    rows = [{"id": i, "mrr": float(v)} for i, v in zip(ids, values, strict=True)]
    label = f"seed={seed}" if seed else ""
    config = {
        "dataset": {"name": "local", "protocol": "full corpus"}, "split": "test", "seed": seed,
        "n_resamples": 200, "replicate_of": f"key-of-{strategy}",
        **({"variant": {"label": label, "settings": {"seed": seed}}} if label else {}),
    }  # fmt: skip
    summary = summarize(rows, ["mrr"], n_resamples=200, seed=seed)
    result = Result(
        model="enc", strategy=strategy, task="t2c", dataset="local", partition="python",
        metrics={k: MetricValue(**v) for k, v in summary.items()}, main_score="mrr",
        n_examples=len(rows), n_candidates=len(rows), config=config, versions={}, git_sha="",
        seed=seed, device="cpu", created="2026-01-02T03:04:05+00:00",
    )  # fmt: skip
    folder = f"{strategy}@{label}" if label else strategy
    path = result_path(root, task="t2c", dataset="local", model="enc", strategy=folder,
                       partition="python")  # fmt: skip
    write_result(path, result, rows)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """none and taskwise over seeds 0, 1, 2, each seed on its own 40 examples (its split)."""
    rng = np.random.default_rng(7)
    scores: dict[str, list[np.ndarray]] = {"none": [], "taskwise": []}
    for seed in range(3):
        ids = [f"s{seed}-q{i}" for i in range(40)]
        base = 1.0 / rng.integers(1, 6, size=40)
        gain = (0.10, 0.02, 0.06)[seed]  # training luck
        for strategy, values in (("none", base), ("taskwise", np.clip(base + gain, 0, 1))):
            scores[strategy].append(values)
            _replicate(tmp_path, strategy, seed, values, ids)
    return tmp_path, scores


def test_compare_pairs_seed_by_seed_and_reports_the_spread(store, capsys):
    root, scores = store
    folder = root / "t2c" / "local" / "enc"
    (row,), _ = compare_paths(folder / "none", folder / "taskwise")  # siblings join
    per_seed = [
        y.mean() - x.mean() for x, y in zip(scores["none"], scores["taskwise"], strict=True)
    ]
    reference = stats.ttest_1samp(per_seed, 0.0)
    assert row.n_seeds == 3
    assert row.b - row.a == pytest.approx(np.mean(per_seed))
    assert row.p_value == pytest.approx(reference.pvalue)
    assert row.sd_b == pytest.approx(np.std([v.mean() for v in scores["taskwise"]], ddof=1))
    assert main(["compare", str(folder / "none"), str(folder / "taskwise")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("task"))
    assert "seeds" in header and header.rstrip().endswith("sd A    sd B")
    assert "t test over seeds and examples" in out


def test_leaderboard_shows_one_row_per_system_with_its_seed_spread(store, capsys):
    root, scores = store
    assert main(["leaderboard", "--task", "t2c", "--results", str(root), "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)
    rows = {r["strategy"]: r["cells"]["python"] for r in board["rows"]}
    assert set(rows) == {"none seeds=0,1,2", "taskwise seeds=0,1,2"}
    means = [v.mean() for v in scores["taskwise"]]
    cell = rows["taskwise seeds=0,1,2"]
    assert cell["value"] == pytest.approx(np.mean(means))
    assert cell["seeds"] == 3 and cell["seed_sd"] == pytest.approx(np.std(means, ddof=1))
    per_seed = [
        y.mean() - x.mean() for x, y in zip(scores["none"], scores["taskwise"], strict=True)
    ]
    assert rows["none seeds=0,1,2"]["p_holm"] == pytest.approx(
        stats.ttest_1samp(per_seed, 0.0).pvalue
    )
    assert main(["leaderboard", "--task", "t2c", "--results", str(root)]) == 0
    assert "(sd " in capsys.readouterr().out
