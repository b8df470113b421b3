"""`harness run --task rc` end to end: a tiny random causal LM on repositories made here.

Every repository's tests expect the constant 42, so a LoRA trained on the
training examples can learn what the random model cannot know; the numbers
are checked against the fixture's own assertions, not against a rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.plugins.completion_eval import exact_match
from harness.results import read_examples, read_result
from tests.tiny_models import make_tiny_causal_lm

REPOS = ("alpha", "beta", "gamma", "delta")
N_ASSERTS = 24


def _write_repos(root: Path) -> Path:
    for repo in REPOS:
        (root / repo / "src").mkdir(parents=True)
        (root / repo / "src" / "core.py").write_text(f"def value(x):\n    return 42  # {repo}\n")
        lines = ["from core import value\n\n"]
        for i in range(N_ASSERTS):
            lines.append(f"def test_{repo}_{i}():\n    assert value({i}) == 42\n\n")
        (root / repo / "tests").mkdir()
        (root / repo / "tests" / "test_core.py").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def rc_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rc")
    return {
        "model": make_tiny_causal_lm(base / "lm"),
        "repos": _write_repos(base / "repos"),
        "cache": base / "cache",
    }


def _run(setup: dict[str, Path], results: Path, *extra: str) -> int:
    return main([
        "run", "--model", f"hf:{setup['model']}", "--task", "rc",
        "--data-dir", str(setup["repos"]), "--results", str(results),
        "--cache-dir", str(setup["cache"]), "--device", "cpu",
        "--set", "dataset.min_per_repo=1", "--set", "dataset.layout=many",
        "--set", "task.max_new_tokens=6",
        "--set", "task.context_tokens=64",
        *extra,
    ])  # fmt: skip


TRAIN = ("--set", "strategy.lr=0.02", "--set", "strategy.max_steps=30",
         "--set", "strategy.max_length=64", "--set", "strategy.precision=fp32")  # fmt: skip


def _rows(results: Path, strategy: str, stored_as: str = "local") -> dict[str, list[dict]]:
    out = {}
    # a strategy's folder is labelled with the settings the run was given (strategy@...)
    for path in sorted((results / "rc" / stored_as).glob(f"*/{strategy}@*/*.json")):
        out[path.stem] = read_examples(path.with_suffix(".jsonl"))
        result = read_result(path)
        ems = [r["exact_match"] for r in out[path.stem]]
        assert result.metrics["exact_match"].value == pytest.approx(sum(ems) / len(ems))
        assert result.n_examples == len(ems)
    return out


def test_none_scores_the_mined_assertions_by_exact_match(rc_setup, tmp_path: Path):
    assert _run(rc_setup, tmp_path / "r", "--strategy", "none") == 0
    rows = _rows(tmp_path / "r", "none")
    assert len(rows) == 1  # four repositories: one cr_test, three train
    (repo, examples), = rows.items()  # fmt: skip
    assert repo in REPOS and len(examples) == N_ASSERTS
    for row in examples:
        assert row["target"] == "42"  # what the fixture asserts
        assert row["exact_match"] == exact_match(row["prediction"], "42")
        assert 0 < row["prompt_tokens"] <= 64
        assert row["new_tokens"] <= 6


def test_taskwise_learns_what_the_training_repositories_assert(rc_setup, tmp_path: Path):
    results = tmp_path / "r"
    assert _run(rc_setup, results, "--strategy", "none") == 0
    assert _run(rc_setup, results, "--strategy", "taskwise", *TRAIN) == 0
    (none,) = _rows(results, "none").values()
    (shared,) = _rows(results, "taskwise").values()
    none_em = sum(r["exact_match"] for r in none) / len(none)
    shared_em = sum(r["exact_match"] for r in shared) / len(shared)
    assert none_em < 0.2 and shared_em >= 0.9, (none_em, shared_em)
    result = read_result(next((results / "rc" / "local").glob("*/taskwise@*/*.json")))
    training = result.config["encoder_info"]["adapter_training"]
    assert training["n_pairs"] == 3 * N_ASSERTS  # the three training repositories
    adapter = rc_setup["cache"] / "adapters" / result.config["strategy"]["adapter_keys"]["task"]
    targets = json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
    assert set(targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                            "down_proj"}  # fmt: skip


def test_langwise_is_per_repository_and_needs_the_in_repo_split(rc_setup, tmp_path, capsys):
    assert _run(rc_setup, tmp_path / "r", "--strategy", "langwise", *TRAIN) == 2
    assert "use --split test (in-repo)" in capsys.readouterr().err
    assert not list((tmp_path / "r").rglob("*.json"))
    assert _run(rc_setup, tmp_path / "r", "--strategy", "langwise", "--split", "test", *TRAIN) == 0
    rows = _rows(tmp_path / "r", "langwise", "local@test")  # not the card's split: own folder
    assert sorted(rows) == sorted(REPOS)  # one partition, and one adapter, per repository
    everything = [r["exact_match"] for examples in rows.values() for r in examples]
    pooled = 100 * sum(everything) / len(everything)
    summary = capsys.readouterr().out
    (line,) = [line for line in summary.splitlines() if "all 4 (pooled)" in line]
    cells = [cell.strip() for cell in line.split("│")[1:-1]]
    assert cells[1] == str(len(everything))
    assert cells[2].startswith(f"{pooled:.2f} [")
    keys = {
        read_result(p).config["strategy"]["adapter_keys"][p.stem]
        for p in (tmp_path / "r" / "rc" / "local@test").glob("*/langwise@*/*.json")
    }
    assert len(keys) == len(REPOS)
    capsys.readouterr()
    board = ["leaderboard", "--task", "rc", "--results", str(tmp_path / "r")]
    assert main([*board, "--dataset", "local@test", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dataset"] == "local@test" and document["header"]["split"] == "test"


def test_an_embedding_encoder_is_refused_for_rc(tmp_path: Path, capsys):
    code = main(["run", "--model", "minilm", "--task", "rc", "--results", str(tmp_path)])
    assert code == 2
    assert "needs a causal LM" in capsys.readouterr().err


def test_the_generation_batch_size_changes_no_prediction_and_no_identity(rc_setup, tmp_path):
    """task.batch_size is declared not to change results: the same predictions one prompt at
    a time as eight at a time, and the second run finds the first one's result complete."""
    results = tmp_path / "r"
    assert _run(rc_setup, results, "--strategy", "none", "--set", "task.batch_size=8") == 0
    first = _rows(results, "none")
    assert _run(rc_setup, results, "--strategy", "none", "--set", "task.batch_size=1",
                "--overwrite") == 0  # fmt: skip
    again = _rows(results, "none")
    assert first.keys() == again.keys()
    for repo, rows in first.items():
        assert [r["prediction"] for r in rows] == [r["prediction"] for r in again[repo]]
        assert [r["exact_match"] for r in rows] == [r["exact_match"] for r in again[repo]]
    assert len({p.parent for p in (results / "rc").rglob("*.json")}) == 1  # one folder
