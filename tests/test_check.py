"""`harness check`: exit 1 on an injected drop, 0 on noise, and the baseline round trip.

The decision rule, its power and its bad-input errors: tests/test_check_gate.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_compare import write_run

from harness.check import request_command
from harness.cli import main

N = 400
TOLERANCE = 0.05  # 5 points: a drop of 10 is detectable at N (the check refuses otherwise)


def _scores(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {p: 1.0 / rng.integers(1, 8, size=N) for p in ("c", "python")}


def _write_store(root: Path, scores: dict[str, np.ndarray]) -> Path:
    for partition, mrr in scores.items():
        write_run(root, {"mrr": mrr, "recall@1": (mrr > 0.99).astype(float)}, partition=partition)
    return root


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    """A baseline recorded from a store of two partitions (no suite: runs are read)."""
    path = tmp_path / "baseline.json"
    path.write_text(
        json.dumps({"format": "harness-baseline", "version": 1, "tolerance": TOLERANCE})
    )
    store = _write_store(tmp_path / "base", _scores())
    assert (
        main(["check", "--baseline", str(path), "--results", str(store), "--update-baseline"]) == 0
    )
    return path


def _check(baseline: Path, store: Path, *options: str) -> int:
    return main(["check", "--baseline", str(baseline), "--results", str(store), *options])


def test_the_recorded_baseline_holds_every_example(baseline: Path):
    recorded = json.loads(baseline.read_text())
    assert [(r["partition"], len(r["examples"]["id"])) for r in recorded["runs"]] == [
        ("c", N),
        ("python", N),
    ]
    python = recorded["runs"][1]
    assert python["examples"]["mrr"] == pytest.approx(_scores()["python"].tolist())
    assert python["metrics"]["mrr"] == pytest.approx(_scores()["python"].mean())


def test_unchanged_runs_pass(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert _check(baseline, tmp_path / "base") == 0
    out = capsys.readouterr().out
    assert out.count(" same") == 4 and "no drop beyond the tolerance" in out


def test_an_injected_drop_fails(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scores = _scores()
    lost = np.random.default_rng(1).random(N) < 0.6
    scores["python"] = np.where(lost, 0.0, scores["python"])  # mrr -21 points, recall@1 -9
    assert _check(baseline, _write_store(tmp_path / "now", scores)) == 1
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("enc/none")]
    assert {(row[1], row[2]): row[-1] for row in rows} == {
        ("t2c/local/c", "mrr"): "same",
        ("t2c/local/c", "recall@1"): "same",
        ("t2c/local/python", "mrr"): "DROP",
        ("t2c/local/python", "recall@1"): "DROP",
    }
    assert "2 drop(s) beyond the tolerance" in out
    assert "over the 2 comparison(s) that changed (2 identical)" in out


def test_noise_passes(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scores = _scores()
    rng = np.random.default_rng(2)
    for partition in scores:
        moved = rng.choice(N, size=20, replace=False)
        scores[partition][moved] = 1.0 / rng.integers(1, 8, size=20)  # some up, some down
    assert _check(baseline, _write_store(tmp_path / "now", scores)) == 0
    assert "DROP" not in capsys.readouterr().out


def test_a_certain_drop_within_the_tolerance_passes(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scores = _scores()
    scores["c"] = scores["c"] - 0.004  # every example (all >= 1/7): certain, 0.4 points
    store = _write_store(tmp_path / "now", scores)
    assert _check(baseline, store) == 0
    assert "drop within tolerance" in capsys.readouterr().out
    # a tolerance of 0.1 points is beyond this suite's power: refused unless allowed
    assert _check(baseline, store, "--tolerance", "0.001") == 2
    assert _check(baseline, store, "--tolerance", "0.001", "--allow-underpowered") == 1


def test_other_examples_are_refused_with_a_hint(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    write_run(tmp_path / "now", {"mrr": _scores()["c"][:-1], "recall@1": np.zeros(N - 1)})
    write_run(tmp_path / "now", {"mrr": _scores()["python"]}, partition="python")
    write_run(
        tmp_path / "now", {"mrr": _scores()["c"]}, partition="c", ids=[f"x{i}" for i in range(N)]
    )
    assert _check(baseline, tmp_path / "now") == 2
    err = capsys.readouterr().err
    assert "not scored on the same examples" in err and "--update-baseline" in err


def test_a_missing_run_is_an_error(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    write_run(tmp_path / "now", {"mrr": _scores()["c"]}, partition="c")
    assert _check(baseline, tmp_path / "now") == 2
    assert "no current run of enc/none t2c/local/python" in capsys.readouterr().err


def test_updating_twice_writes_the_same_bytes(baseline: Path, tmp_path: Path):
    first = baseline.read_bytes()
    assert _check(baseline, tmp_path / "base", "--update-baseline") == 0
    assert baseline.read_bytes() == first


def test_a_file_that_is_not_a_baseline_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "b.json"
    path.write_text("{}")
    assert _check(path, tmp_path) == 2
    assert 'expected "format": "harness-baseline"' in capsys.readouterr().err


def test_request_command_spells_the_run():
    entry = {
        "model": "hf:m",
        "task": "t2c",
        "languages": ["c", "python"],
        "n_resamples": 200,
        "settings": {"dataset": {"test_fraction": 0.5}},
    }
    assert request_command(entry) == (
        "harness run --model hf:m --task t2c --languages c,python --bootstrap 200 "
        "--set dataset.test_fraction=0.5"
    )


def test_the_suite_runs_and_reruns_to_the_same_scores(
    tiny_bert: Path, code_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    suite = {
        "model": f"hf:{tiny_bert}",
        "task": "t2c",
        "data_dir": str(code_tree),
        "cache_dir": str(tmp_path / "cache"),
        "device": "cpu",
        "languages": ["python"],
        "n_resamples": 100,
        "settings": {"dataset": {"test_fraction": 0.5, "valid_fraction": 0.0}},
    }
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"format": "harness-baseline", "version": 1, "suite": [suite]}))
    assert main(["check", "--baseline", str(path), "--update-baseline"]) == 0
    (run,) = json.loads(path.read_text())["runs"]
    assert run["command"].startswith(f"harness run --model hf:{tiny_bert} --task t2c")
    ids = run["examples"]["id"]
    assert len(set(ids)) == len(ids) > 10 and all(i.startswith("local://") for i in ids)
    capsys.readouterr()
    # about 20 queries cannot detect the default tolerance: refused, then checked when allowed
    assert main(["check", "--baseline", str(path)]) == 2
    assert "cannot detect its tolerance" in capsys.readouterr().err
    assert main(["check", "--baseline", str(path), "--allow-underpowered"]) == 0
    assert "DROP" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"task": "t2c", "modle": "minilm"}, "suite entry 2: unknown key 'modle'; did you mean"),
        ({"model": "minilm", "task": "t2c", "limit": "many"}, "suite entry 2: key 'limit'"),
        ({"model": "minilm", "task": "t2c", "results": "elsewhere"}, "is harness check's to set"),
        ({"model": "minilm", "task": "t2c", "set": {"dataset": {"tets_fraction": 0.5}}},
         "'tets_fraction'"),
        ({"task": "t2c"}, "suite entry 2: --model is required"),
    ],
)  # fmt: skip
def test_a_suite_entry_is_checked_as_the_command_line_checks_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: dict, message: str
):
    """Each entry goes through `harness run`'s own parser before anything runs: a typo, a
    value of the wrong type or an option the check owns is one line naming the entry."""
    good = {"model": "minilm", "task": "t2c", "limit": 5}
    path = tmp_path / "baseline.json"
    suite = {"format": "harness-baseline", "version": 1, "suite": [good, entry]}
    path.write_text(json.dumps(suite))
    assert main(["check", "--baseline", str(path), "--update-baseline"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "runs" not in json.loads(path.read_text())  # nothing recorded, nothing run


def test_a_suite_entry_is_a_run_config_and_lists_make_a_small_matrix(tmp_path: Path):
    from harness.check import suite_requests

    entry = {"model": "minilm", "task": "t2c", "seed": [0, 1], "bootstrap": 50,
             "set": {"dataset": {"test_fraction": 0.5}}}  # fmt: skip
    legacy = {"model": "minilm", "task": "t2c", "n_resamples": 50,
              "settings": {"dataset": {"test_fraction": 0.5}}}  # fmt: skip
    made = suite_requests({"suite": [entry, legacy]}, tmp_path, tmp_path / "b.json")
    requests = [request for _, request in made]
    assert [(r.seed, r.n_resamples) for r in requests] == [(0, 50), (1, 50), (0, 50)]
    assert all(r.settings == {"dataset": {"test_fraction": 0.5}} for r in requests)
    assert all(r.results_dir == tmp_path / "results" and r.overwrite for r in requests)
    assert all(r.cache_dir == tmp_path / "cache" for r in requests)
    assert request_command(entry) == request_command({**legacy, "seed": [0, 1]})
