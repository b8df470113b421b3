"""`harness check` can fail: its rule against scipy, its power, its refusals, its bad input.

The cases of issue 16 point 4 (the old gate passed both): 5 examples that all
fell from 1 to 0, and 48 examples with a 6-point drop whose paired interval
excludes 0, beside 7 comparisons that did not change.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats
from test_compare import write_run

from harness.check import baseline_runs, check_runs
from harness.check_power import detectable_drop, margin_test
from harness.cli import main
from harness.compare import load_runs


def _record(tmp_path: Path, store: Path, **fields: object) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"format": "harness-baseline", "version": 1, **fields}))
    update = ["check", "--baseline", str(path), "--results", str(store), "--update-baseline"]
    assert main(update) == 0
    return path


def _check(baseline: Path, store: Path, *options: str) -> int:
    return main(["check", "--baseline", str(baseline), "--results", str(store), *options])


def _forty_eight(seed: int = 0) -> np.ndarray:
    return 1.0 / np.random.default_rng(seed).integers(1, 6, size=48)


def _six_point_drop(base: np.ndarray) -> np.ndarray:
    """14 examples fall by 0.3, 11 rise by 0.12: -6 points on average, up and down."""
    falling = np.flatnonzero(base >= 0.3)[:14]
    rising = np.setdiff1d(np.flatnonzero(base < 0.88), falling)[:11]
    moved = base.copy()
    moved[falling] -= 0.3
    moved[rising] += 0.12
    return moved


def _write_four_runs(root: Path, python_mrr: np.ndarray) -> Path:
    """4 runs x 2 metrics; only the mrr of (taskwise, python) differs from _forty_eight."""
    for strategy in ("none", "taskwise"):
        for partition, seed in (("c", 1), ("python", 0)):
            mrr = _forty_eight(seed)
            if (strategy, partition) == ("taskwise", "python"):
                mrr = python_mrr
            ndcg = _forty_eight(seed + 10)
            write_run(root, {"mrr": mrr, "ndcg@10": ndcg}, strategy=strategy, partition=partition)
    return root


def _one_run(tmp_path: Path) -> Path:
    write_run(tmp_path / "base", {"mrr": _forty_eight()})
    return tmp_path / "base"


def test_five_examples_that_all_fell_from_1_to_0_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    write_run(tmp_path / "base", {"exact_match": np.ones(5)})
    write_run(tmp_path / "now", {"exact_match": np.zeros(5)})
    path = _record(tmp_path, tmp_path / "base")
    capsys.readouterr()
    # 5 examples detect only drops of 67 points: refused at the default 1-point tolerance ...
    assert _check(path, tmp_path / "now") == 2
    assert "detects only drops of 67.4" in capsys.readouterr().err  # exact: see below
    # ... and when allowed, a 100-point drop on every example fails (the old gate: p 0.065)
    assert _check(path, tmp_path / "now", "--allow-underpowered") == 1
    assert "DROP" in capsys.readouterr().out
    stored = baseline_runs(json.loads(path.read_text()), path)
    (verdict,) = check_runs(stored, load_runs(tmp_path / "now"), tolerance=0.01)
    assert verdict.failed and verdict.difference == -1.0


def test_48_examples_with_a_6_point_drop_are_refused_with_the_detectable_drop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    base, now = _forty_eight(), _six_point_drop(_forty_eight())
    assert np.mean(now - base) == pytest.approx(-0.06)
    # the paired interval excludes 0 (scipy's percentile bootstrap of the mean difference)
    interval = stats.bootstrap((now - base,), np.mean, method="percentile", random_state=0)
    assert interval.confidence_interval.high < 0
    store = _write_four_runs(tmp_path / "base", _forty_eight())
    path = _record(tmp_path, store)
    capsys.readouterr()
    assert _check(path, _write_four_runs(tmp_path / "now", now)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "8 comparisons" in err
    named = max(detectable_drop(_forty_eight(s), 0.01, 0.05, 8) for s in (0, 1, 10, 11))
    assert f"detects only drops of {100 * named:.2f} points or more" in err


def test_identical_comparisons_stay_out_of_the_holm_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    base, now = _forty_eight(), _six_point_drop(_forty_eight())
    path = _record(tmp_path, _write_four_runs(tmp_path / "base", base))
    stored = baseline_runs(json.loads(path.read_text()), path)
    verdicts = check_runs(
        stored, load_runs(_write_four_runs(tmp_path / "now", now)), tolerance=0.01
    )
    changed = [v for v in verdicts if v.status != "same"]
    assert len(verdicts) == 8 and len(changed) == 1
    # a family of one: the p-value is scipy's one-sided t-test of "drop <= 1 point", unadjusted
    reference = stats.ttest_1samp(now - base, popmean=-0.01, alternative="less")
    assert changed[0].p_holm == pytest.approx(reference.pvalue, rel=1e-9)
    upper = reference.confidence_interval(confidence_level=0.95).high
    assert changed[0].upper == pytest.approx(upper, rel=1e-9)
    assert changed[0].upper < -0.01 and changed[0].failed
    # the old gate counted all 8 (Holm x8) and called this drop noise; this one fails it
    assert _check(path, tmp_path / "now", "--allow-underpowered") == 1
    out = capsys.readouterr().out
    assert "over the 1 comparison(s) that changed (7 identical)" in out


def test_margin_test_against_scipy():
    rng = np.random.default_rng(3)
    for n, shift in ((5, -0.3), (30, -0.05), (200, 0.01)):
        d = rng.normal(shift, 0.2, size=n)
        test = margin_test(d, 0.02, 0.01)
        reference = stats.ttest_1samp(d, popmean=-0.02, alternative="less")
        assert test.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        high = reference.confidence_interval(confidence_level=0.99).high
        assert test.upper == pytest.approx(high, rel=1e-9)
        assert (test.upper < -0.02) == (test.p_value < 0.01)  # the interval rule, one-sided


def test_the_detectable_drop_of_5_binary_examples_is_exact():
    """All 5 examples scored 1: the rule (one comparison, tolerance 0.01) fails exactly when
    3 or more lost their score, so power 0.8 is P(Binomial(5, q) >= 3) = 0.8."""
    q = optimize.brentq(lambda q: stats.binom.sf(2, 5, q) - 0.8, 0.01, 0.99)
    assert [margin_test(-np.array([1.0] * k + [0.0] * (5 - k)), 0.01, 0.05).p_value < 0.05
            for k in range(1, 6)] == [False, False, True, True, True]  # fmt: skip
    assert detectable_drop(np.ones(5), 0.01, 0.05, 1) == pytest.approx(q, abs=0.01)


def test_the_stated_detectable_drop_is_caught_4_times_in_5_in_a_fresh_simulation():
    """A new simulation (other draws, scipy's t-test per suite) at the stated drop."""
    a = _forty_eight()
    tolerance, alpha, m = 0.02, 0.05, 4
    drop = detectable_drop(a, tolerance, alpha, m)
    rng = np.random.default_rng(4)

    def rate(mean_drop: float) -> float:
        lost = rng.random((2000, len(a))) < mean_drop / a.mean()
        tests = stats.ttest_1samp(-a * lost, popmean=-tolerance, alternative="less", axis=1)
        return float(np.mean(np.nan_to_num(tests.pvalue, nan=1.0) < alpha / m))

    assert rate(drop) == pytest.approx(0.8, abs=0.03)
    # at the tolerance itself it fails no more often than alpha / m: the false alarms
    assert rate(tolerance) <= alpha / m + 0.005


def test_fewer_than_two_examples_detect_nothing():
    assert detectable_drop(np.ones(1), 0.01, 0.05, 1) == np.inf
    assert margin_test(np.array([-1.0]), 0.01, 0.05).p_value == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tolerance", "nan"], "'nan' is not a finite number in [0, 1)"),
        (["--tolerance", "inf"], "'inf' is not a finite number in [0, 1)"),
        (["--tolerance", "-0.01"], "'-0.01' is not a finite number in [0, 1)"),
        (["--tolerance", "1"], "'1' is not a finite number in [0, 1)"),
        (["--alpha", "nan"], "'nan' must lie strictly between 0 and 1"),
    ],
)
def test_bad_options_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
):
    path = _record(tmp_path, _one_run(tmp_path))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        _check(path, tmp_path / "base", *options)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("harness: error:") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tolerance", float("nan"), '"tolerance" must be a finite number in [0, 1), got nan'),
        ("tolerance", "0.01", "\"tolerance\" must be a number in [0, 1), got '0.01'"),
        ("tolerance", True, '"tolerance" must be a number in [0, 1), got True'),
        ("tolerance", -1, '"tolerance" must be a finite number in [0, 1), got -1'),
        ("metrics", ["mrr", "mmr"], "\"metrics\": 'mmr' is not a registered metric"),
        ("metrics", [], '"metrics" must be a non-empty list of metric names'),
    ],
)
def test_bad_baseline_fields_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, message: str
):
    path = _record(tmp_path, _one_run(tmp_path))
    recorded = json.loads(path.read_text())
    path.write_text(json.dumps({**recorded, field: value}))  # json writes NaN as NaN
    capsys.readouterr()
    assert _check(path, tmp_path / "base", "--allow-underpowered") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("mrr", [float("nan")] * 48, "mrr holds a value that is not a finite number in [0, 1]"),
        ("mrr", [1.5] * 48, "mrr holds a value that is not a finite number in [0, 1]"),
        ("mrr", ["0.5"] * 48, "scores must be a list of numbers"),
        ("mmr", [0.5] * 48, "baseline run 1: 'mmr' is not a registered metric"),
    ],
)
def test_bad_baseline_scores_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    column: str,
    values: list[object],
    message: str,
):
    path = _record(tmp_path, _one_run(tmp_path))
    recorded = json.loads(path.read_text())
    recorded["runs"][0]["examples"][column] = values
    path.write_text(json.dumps(recorded))
    capsys.readouterr()
    assert _check(path, tmp_path / "base", "--allow-underpowered") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
