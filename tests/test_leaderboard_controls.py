"""`harness leaderboard` with control rows and split-labelled datasets.

A hypernetwork-like result stores the per-example scores of its controls in
``config.encoder_info.controls``; the leaderboard puts one row per control
beneath the system and gives each cell the system's gain over the control
with its paired sign-flip p. The expected values are computed here by hand:
means of the arrays, and the p-value by enumerating every sign pattern (an
exact randomisation test) against the Monte-Carlo test the leaderboard runs.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from test_compare import write_run

from harness.cli import main
from harness.leaderboard import build

N = 12


def _exact_sign_flip(differences: list[np.ndarray]) -> float:
    """Two-sided p of the macro-average statistic over all 2^n sign patterns."""
    weights = np.concatenate(
        [np.full(len(d), 1.0 / (len(differences) * len(d))) for d in differences]
    )
    weighted = np.concatenate(differences) * weights
    observed = abs(weighted.sum())
    hits = sum(
        abs(np.dot(signs, weighted)) >= observed - 1e-12
        for signs in itertools.product((-1.0, 1.0), repeat=len(weighted))
    )
    return hits / 2 ** len(weighted)


def _scores() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    system = {p: (rng.random(N) < 0.7).astype(float) for p in ("alpha", "beta")}
    return {
        "system": system,
        "none": {p: (rng.random(N) < 0.3).astype(float) for p in system},
        # shuffled: worse than the system; mean_adapter: better (a control never takes bold)
        "shuffled": {p: system[p] * (rng.random(N) < 0.5) for p in system},
        "mean_adapter": {p: np.maximum(system[p], rng.random(N) < 0.4) for p in system},
    }


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, np.ndarray]]:
    monkeypatch.chdir(tmp_path)
    scores = _scores()
    for partition in ("alpha", "beta"):
        ids = [f"{partition}{i:02d}" for i in range(N)]
        order = np.random.default_rng(1).permutation(N)  # controls stored in another order
        controls = {
            "metric": "exact_match",
            "diversity": {"n_adapters": 2, "mean_cosine": 0.9, "mean_update_cosine": 0.4321,
                          "collapse_cosine": 0.99, "collapsed": False},
            "per_example": {
                "ids": [ids[i] for i in order],
                **{name: scores[name][partition][order].tolist()
                   for name in ("shuffled", "mean_adapter")},
            },
        }  # fmt: skip
        for strategy, values, config in (
            ("none", scores["none"][partition], {}),
            ("hypernet-static", scores["system"][partition],
             {"encoder_info": {"controls": controls}}),
        ):  # fmt: skip
            write_run(tmp_path / "store", {"exact_match": values}, ids=ids, model="lm",
                      strategy=strategy, task="rc", partition=partition,
                      config=config)  # fmt: skip
    return scores


def test_control_rows_carry_the_gain_and_its_exact_p(store):
    board = build(Path("store"), "rc", n_permutations=20_000)
    labels = [row.strategy for row in board.rows]
    assert labels == ["none", "hypernet-static", "hypernet-static: mean_adapter",
                      "hypernet-static: shuffled"]  # fmt: skip
    rows = {row.strategy: row for row in board.rows}
    system = store["system"]
    for name in ("shuffled", "mean_adapter"):
        row = rows[f"hypernet-static: {name}"]
        assert row.control_of == "hypernet-static"
        control = store[name]
        for partition in ("alpha", "beta"):
            cell = row.cells[partition]
            assert cell.value == pytest.approx(control[partition].mean())
            assert cell.gain == pytest.approx(system[partition].mean() - control[partition].mean())
            exact = _exact_sign_flip([system[partition] - control[partition]])
            assert cell.gain_p == pytest.approx(exact, abs=0.02)
            assert not cell.best and not cell.same_as_best
        mean = row.cells["mean"]
        by_hand = np.mean([system[p].mean() - control[p].mean() for p in ("alpha", "beta")])
        assert mean.gain == pytest.approx(by_hand)
    # the mean adapter scores above the system on alpha, yet the system's row keeps bold
    assert rows["hypernet-static: mean_adapter"].cells["alpha"].value > system["alpha"].mean()
    assert rows["hypernet-static"].cells["alpha"].best
    assert board.notes == [
        "lm hypernet-static: the 2 adapters' mean pairwise cosine 0.432 (updates'; not "
        "collapsed: the flag is at 0.99)"
    ]


def test_the_control_p_values_are_holm_corrected_within_the_column(store):
    """Two controls per column are one family, as the marks' tests are: the smaller p is
    doubled, the larger kept at least as large (Holm), from the exact p-values."""
    board = build(Path("store"), "rc", n_permutations=20_000)
    rows = {row.strategy: row for row in board.rows}
    system = store["system"]
    for column in ("alpha", "beta", "mean"):
        strata = ["alpha", "beta"] if column == "mean" else [column]
        exact = {
            name: _exact_sign_flip([system[p] - store[name][p] for p in strata])
            for name in ("shuffled", "mean_adapter")
        }
        low, high = sorted(exact.values())
        by_hand = {}
        for name, p in exact.items():
            by_hand[name] = min(1.0, 2 * low) if p == low else max(min(1.0, 2 * low), high)
        for name in ("shuffled", "mean_adapter"):
            cell = rows[f"hypernet-static: {name}"].cells[column]
            assert cell.gain_p_holm == pytest.approx(by_hand[name], abs=0.04), (column, name)
            assert cell.gain_p_holm >= cell.gain_p


def test_one_evaluated_repository_leaves_the_collapse_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = [f"a{i}" for i in range(N)]
    controls = {"metric": "exact_match",
                "diversity": {"n_adapters": 1, "mean_cosine": None, "mean_update_cosine": None,
                              "collapse_cosine": 0.99, "collapsed": None},
                "per_example": {"ids": ids, "shuffled": [0.0] * N}}  # fmt: skip
    write_run(Path("store"), {"exact_match": np.ones(N)}, ids=ids, model="lm",
              strategy="hypernet-static", task="rc", partition="alpha",
              config={"encoder_info": {"controls": controls}})  # fmt: skip
    board = build(Path("store"), "rc")
    assert board.notes == ["lm hypernet-static: collapse unknown (one evaluated repository)"]


def test_every_format_shows_the_controls(store, capsys: pytest.CaptureFixture[str]):
    args = ["leaderboard", "--task", "rc", "--results", "store"]
    assert main(args) == 0
    markdown = capsys.readouterr().out
    line = next(x for x in markdown.splitlines() if "hypernet-static: shuffled" in x)
    assert "(gain +" in line and "mean pairwise cosine 0.432" in markdown
    assert main([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    shuffled = [r for r in rows if r["strategy"] == "hypernet-static: shuffled"]
    assert {r["control_of"] for r in shuffled} == {"hypernet-static"}
    assert all(float(r["gain_x100"]) > 0 for r in shuffled)
    assert main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    [row] = [r for r in document["rows"] if r["strategy"] == "hypernet-static: shuffled"]
    assert row["control_of"] == "hypernet-static" and "gain_p" in row["cells"]["alpha"]
    assert document["notes"]


def test_a_split_other_than_the_tasks_own_is_its_own_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for stored, value in ((None, 0.2), ("local@test", 0.9)):
        config = {"stored_dataset": stored} if stored else {}
        write_run(Path("store"), {"exact_match": np.full(5, value)}, model="lm", task="rc",
                  partition="alpha", strategy="none" if stored is None else "taskwise",
                  config=config)  # fmt: skip
    assert main(["leaderboard", "--task", "rc", "--results", "store"]) == 2
    assert "local, local@test" in capsys.readouterr().err
    board = build(Path("store"), "rc", dataset="local@test")
    assert board.dataset == "local@test"
    assert [row.strategy for row in board.rows] == ["taskwise"]
    assert [row.strategy for row in build(Path("store"), "rc", dataset="local").rows] == ["none"]


def test_the_regenerate_commands_carry_the_data_dir_and_the_settings(tmp_path, monkeypatch):
    from harness.results import config_hash

    monkeypatch.chdir(tmp_path)
    given = {"data_dir": "/data/repos", "settings": {"strategy": {"steps": 3}, "task": {"k": 2}}}
    write_run(Path("store"), {"exact_match": np.full(5, 0.5)}, model="lm", task="rc",
              partition="alpha", strategy="rag", config=given)  # fmt: skip
    [command] = build(Path("store"), "rc").run_commands
    assert "--dataset local --data-dir /data/repos" in command
    assert "--set strategy.steps=3 --set task.k=2" in command
    # what the user typed is recorded, not hashed: its effect is in the rest of the config
    assert config_hash({"seed": 0, **given}) == config_hash({"seed": 0})
    assert config_hash({"seed": 1}) != config_hash({"seed": 0})
