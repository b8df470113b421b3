"""Cost on the table: one-off costs from model views, break-even, `harness leaderboard --cost`.

The store below is made by hand: five strategies on two repositories of two
requests each, with costs chosen so that every number of the cost view can
be worked out on paper (see `STORE`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.cost import OneOff, break_even, one_off_costs, one_off_timings, total_one_off
from harness.identity import label
from harness.leaderboard_cost import build_costs
from harness.results import MetricValue, Result, result_path, write_result
from harness.stats import bootstrap_ci

# strategy -> partition -> (exact match per request, prompt tokens in all, generate_s, info)
STORE: dict[str, dict[str, tuple[list[float], int, float, dict[str, Any]]]] = {
    "none": {"a": ([1, 0], 200, 2.0, {}), "b": ([0, 0], 200, 2.0, {})},
    "rag": {  # 300 tokens and 2 s a request; indexes of 10 s and 30 s: 40 s once
        "a": ([1, 1], 600, 4.0, {"one_off": [{"what": "index_build", "key": "ia", "seconds": 10}]}),
        "b": ([0, 1], 600, 4.0, {"one_off": [{"what": "index_build", "key": "ib", "seconds": 30}]}),
    },
    "taskwise": {  # one adapter for both repositories: its 100 s count once
        "a": ([1, 0], 200, 2.0, {"adapter": "t1", "adapter_training": {"seconds": 100.0}}),
        "b": ([1, 0], 200, 2.0, {"adapter": "t1", "adapter_training": {"seconds": 100.0}}),
    },
    "langwise": {  # an adapter per repository: 50 s + 70 s
        "a": ([1, 1], 200, 2.0, {"adapter": "la", "adapter_training": {"seconds": 50.0}}),
        "b": ([1, 0], 200, 2.0, {"adapter": "lb", "adapter_training": {"seconds": 70.0}}),
    },
    "icl": {"a": ([0, 1], 1000, 5.0, {}), "b": ([0, 0], 1000, 5.0, {})},  # 2.5 s a request
}


def write_store(root: Path, variants: dict[str, tuple[str, dict[str, Any]]] | None = None) -> None:
    """STORE's results; `variants`: folder -> (strategy, extra config) for more runs, as a
    run that was given settings records them."""
    runs = {name: (name, {}) for name in STORE}
    for folder, (strategy, extra) in (variants or {}).items():
        runs[folder] = (strategy, extra)
    for folder, (strategy, extra) in runs.items():
        for partition, (scores, tokens, seconds, info) in STORE[strategy].items():
            ids = [f"{partition}{i}" for i in range(len(scores))]
            rows = [{"id": i, "exact_match": float(s)} for i, s in zip(ids, scores, strict=True)]
            mean = float(np.mean(scores))
            result = Result(
                model="lm", strategy=strategy, task="rc", dataset="local", partition=partition,
                metrics={"exact_match": MetricValue(mean, mean, mean)},
                main_score="exact_match", n_examples=len(rows), n_candidates=0,
                config={"dataset": {"name": "local"}, "split": "cr_test", "limit": None,
                        "seed": 0, "n_resamples": 1000, "encoder_info": info, **extra},
                versions={"harness": "0.1.0"}, git_sha="0" * 16, seed=0, device="cpu",
                timings={"prompt_tokens_total": float(tokens), "generate_s": seconds,
                         "prompt_tokens_mean": tokens / len(rows)},
                created="2026-01-02T03:04:05+00:00",
            )  # fmt: skip
            path = result_path(root, task="rc", dataset="local", model="lm",
                               strategy=folder, partition=partition)  # fmt: skip
            write_result(path, result, rows)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    write_store(tmp_path / "store")
    return tmp_path / "store"


def test_break_even_by_hand():
    # 100 s once and 0.5 s a request against 10 s once and 2 s a request:
    # 100 + 0.5 n = 10 + 2 n at n = 90 / 1.5 = 60
    assert break_even(100.0, 0.5, 10.0, 2.0) == 60
    assert break_even(100.0, 0.5, 10.0, 1.9) == 65  # 90 / 1.4 = 64.3: repaid at 65
    assert break_even(5.0, 0.5, 10.0, 2.0) == 0  # cheaper up front and per request
    assert break_even(100.0, 2.0, 10.0, 2.0) is None  # never cheaper per request
    assert break_even(100.0, 2.5, 10.0, 2.0) is None


def test_one_off_costs_read_every_kind_of_view():
    info = {
        "one_off": [{"what": "index_build", "key": "k1", "seconds": 12.5}],
        "adapter": "abc",
        "adapter_training": {"seconds": 40, "steps": 60},
        "hypernet_training": {"seconds": 300.0, "key": "h1"},
        "adapter_generation": {"seconds": 0.25, "key": "g-abc"},
    }
    assert one_off_costs(info) == [
        OneOff("index_build", "k1", 12.5),
        OneOff("adapter_training", "abc", 40.0),
        OneOff("hypernet_training", "h1", 300.0),
        OneOff("adapter_generation", "g-abc", 0.25),
    ]
    assert one_off_costs({"adapter_training": {}}) == []  # --adapter given: nothing measured
    assert one_off_costs({}) == []
    shared = [OneOff("adapter_training", "t", 100.0)] * 3 + [OneOff("index_build", "i", 5.0)]
    assert total_one_off(shared) == 105.0
    assert one_off_timings(shared) == {
        "adapter_training_s": 100.0, "index_build_s": 5.0, "one_off_s": 105.0
    }  # fmt: skip


def test_the_cost_view_by_hand(store: Path):
    view = build_costs(store, "rc")
    rows = {r.strategy: r for r in view.rows}
    assert [r.strategy for r in view.rows] == ["none", "icl", "langwise", "rag", "taskwise"]
    assert {s: r.requests for s, r in rows.items()} == dict.fromkeys(STORE, 4)
    assert rows["rag"].score == 0.75 and rows["none"].score == 0.25
    assert (rows["rag"].ci_low, rows["rag"].ci_high) == bootstrap_ci(np.array([1, 1, 0, 1.0]))
    assert rows["rag"].tokens_per_request == 300 and rows["icl"].tokens_per_request == 500
    assert rows["rag"].seconds_per_request == 2.0 and rows["none"].seconds_per_request == 1.0
    assert rows["rag"].one_off_s == 40.0 and rows["rag"].one_off == {"index_build": 40.0}
    assert rows["taskwise"].one_off_s == 100.0  # shared by both repositories: once
    assert rows["langwise"].one_off_s == 120.0
    # against rag (the default baseline), 2 s a request and 40 s once:
    assert rows["rag"].baseline == "" and rows["taskwise"].baseline == "rag"
    assert rows["taskwise"].break_even == 60  # (100 - 40) / (2 - 1)
    assert rows["langwise"].break_even == 80  # (120 - 40) / (2 - 1)
    assert rows["none"].break_even == 0  # nothing to pay once, cheaper per request
    assert rows["icl"].break_even is None and rows["icl"].nothing_to_repay  # slower, no one-off


def test_against_none_an_adapter_that_saves_no_time_is_never_repaid(store: Path):
    rows = {r.strategy: r for r in build_costs(store, "rc", baseline="none").rows}
    assert rows["taskwise"].break_even is None and not rows["taskwise"].nothing_to_repay
    assert rows["rag"].break_even is None


def test_leaderboard_cost_command(store: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["leaderboard", "--task", "rc", "--results", str(store), "--cost"]) == 0
    out = capsys.readouterr().out
    assert "- split: cr_test; examples: a 2, b 2" in out.splitlines()
    lines = {line.split("|")[2].strip(): line for line in out.splitlines() if line.count("|") > 8}

    def cells(strategy: str) -> list[str]:
        return [cell.strip() for cell in lines[strategy].strip("|").split("|")]

    assert cells("rag")[3].startswith("75.00 [") and cells("rag")[-1] == "baseline"
    assert cells("taskwise") == [
        "lm", "taskwise", "4", cells("taskwise")[3], "100.0", "1.0000", "100.0", "60"
    ]  # fmt: skip
    assert cells("icl")[-1] == "-"
    assert main(["leaderboard", "--task", "rc", "--results", str(store), "--cost",
                 "--baseline", "none", "--format", "json"]) == 0  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    by_strategy = {r["strategy"]: r for r in document["rows"]}
    assert by_strategy["taskwise"]["break_even"] is None
    assert by_strategy["rag"]["baseline"] == "none"


def test_cost_view_errors(store: Path, capsys: pytest.CaptureFixture[str]):
    args = ["leaderboard", "--task", "rc", "--results", str(store)]
    assert main([*args, "--cost", "--baseline", "nothing"]) == 2
    assert "--baseline 'nothing': no results of that strategy" in capsys.readouterr().err
    assert main([*args, "--baseline", "rag"]) == 2
    assert "add --cost" in capsys.readouterr().err


def test_the_plain_leaderboard_shows_the_cost_per_request(
    store: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["leaderboard", "--task", "rc", "--results", str(store)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| model"))
    assert header.rstrip(" |").endswith("prompt tokens / request |   s / request")
    icl = next(line for line in out.splitlines() if "| icl " in line)
    assert [c.strip() for c in icl.strip(" |").split("|")][-2:] == ["500.0", "2.5000"]
    assert main(["leaderboard", "--task", "rc", "--results", str(store), "--format", "json"]) == 0
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["rag"]["cost"] == {"prompt_tokens_per_request": 300.0, "seconds_per_request": 2.0}
    # latex: the labels are escaped, the score cells not (there are two labels here, no source)
    assert main(["leaderboard", "--task", "rc", "--results", str(store), "--format", "latex"]) == 0
    rag = next(line for line in capsys.readouterr().out.splitlines() if "& rag " in line)
    assert "\\textbf{100.00 $\\pm$ 0.00}" in rag and rag.rstrip(" \\").endswith("2.0000")


def _given(limit: int, **strategy: Any) -> dict[str, Any]:
    """The config of a run given --limit and strategy settings (its identity and settings)."""
    identity: dict[str, Any] = {"limit": limit}
    if strategy:
        identity["settings"] = {"strategy": strategy}
    return {"identity": identity, "limit": limit,
            "variant": {"label": label(identity), "settings": identity},
            **({"settings": {"strategy": strategy}} if strategy else {})}  # fmt: skip


def test_labels_say_what_tells_a_row_apart_and_the_baseline_is_found_by_name(tmp_path: Path):
    """Every run limited alike (and a preset given): the rows are named by their strategy,
    the default baseline is still rag and none still comes first; a second rag run with
    another setting is named by it, and --baseline takes either name."""
    variants = {f"{name}@limit_100": (name, _given(100)) for name in STORE}
    variants["taskwise@limit_100"] = ("taskwise", _given(100, preset="quick"))
    variants["rag@k_1"] = ("rag", _given(100, k=1))
    write_store(tmp_path / "s", variants)
    # the store also holds the plain runs (no limit): keep only the limited ones
    for name in STORE:
        for path in (tmp_path / "s" / "rc" / "local" / "lm" / name).glob("*"):
            path.unlink()
    view = build_costs(tmp_path / "s", "rc")
    names = [r.strategy for r in view.rows]
    assert names == ["none", "icl", "langwise", "rag", "rag k=1", "taskwise"]
    rows = {r.strategy: r for r in view.rows}
    assert rows["rag"].baseline == "" and rows["taskwise"].baseline == "rag"
    assert rows["taskwise"].break_even == 60
    chosen = {r.strategy: r for r in build_costs(tmp_path / "s", "rc", baseline="rag k=1").rows}
    assert chosen["rag k=1"].baseline == "" and chosen["rag"].baseline == "rag k=1"
    # the regenerate commands: the preset once, as the flag; the limit
    taskwise = [c for c in view.run_commands if "--strategy taskwise" in c]
    assert len(taskwise) == 1 and "--preset quick" in taskwise[0]
    assert "strategy.preset" not in taskwise[0] and "--limit 100" in taskwise[0]
    (rag_k1,) = [c for c in view.run_commands if "strategy.k=1" in c]
    assert rag_k1.startswith("harness run --model lm --strategy rag ")


def test_an_ambiguous_baseline_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    variants = {"rag@k_1": ("rag", _given(100, k=1)), "rag@k_3": ("rag", _given(100, k=3))}
    write_store(tmp_path / "s", variants)
    args = ["leaderboard", "--task", "rc", "--results", str(tmp_path / "s"), "--cost"]
    assert main([*args, "--baseline", "rag"]) == 0  # the plain rag run is named "rag"
    capsys.readouterr()
    for path in (tmp_path / "s" / "rc" / "local" / "lm" / "rag").glob("*"):
        path.unlink()
    assert main([*args, "--baseline", "rag"]) == 2
    err = capsys.readouterr().err
    assert "--baseline 'rag': 2 rows of that strategy (rag k=1; rag k=3)" in err


def test_a_split_stored_apart_is_named_in_the_regenerate_command(tmp_path: Path):
    """rc's own split is cr_test; a run on the in-repo split ``test`` is stored as
    ``local@test``, and its command must say --split test (not drop it as a default)."""
    extra = {"split": "test", "stored_dataset": "local@test"}
    write_store(tmp_path / "s", {"none@split": ("none", extra)})
    view = build_costs(tmp_path / "s", "rc", dataset="local@test")
    (command,) = view.run_commands
    assert " --split test " in command
    plain = build_costs(tmp_path / "s", "rc", dataset="local")
    assert all("--split cr_test" in c for c in plain.run_commands)
