"""An adapter's key is what it learns from: its training pairs and settings, never the
evaluation. A run that evaluates fewer queries (``--limit``) or more languages loads the
adapter another run trained; a run whose training pairs differ trains its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main


def _run(tiny_bert: Path, tree: Path, tmp: Path, *extra: str) -> None:
    argv = [
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--strategy", "langwise",
        "--data-dir", str(tree), "--results", str(tmp / "r"), "--cache-dir", str(tmp / "c"),
        "--device", "cpu", "--set", "dataset.valid_fraction=0.0",
        "--set", "strategy.max_steps=2", "--set", "strategy.batch_size=8",
        "--set", "strategy.max_length=32", *extra,
    ]  # fmt: skip
    assert main(argv) == 0


def _trained(tmp: Path) -> dict[str, list[str]]:
    """adapter name -> the keys stored for it."""
    found: dict[str, list[str]] = {}
    for meta in sorted((tmp / "c" / "adapters").glob("*/harness_adapter.json")):
        found.setdefault(json.loads(meta.read_text())["adapter"], []).append(meta.parent.name)
    return found


def test_the_evaluation_never_keys_an_adapter(
    tiny_bert: Path, code_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _run(tiny_bert, code_tree, tmp_path, "--languages", "python")
    assert {k: len(v) for k, v in _trained(tmp_path).items()} == {"python": 1}
    capsys.readouterr()
    # more partitions evaluated, fewer queries each: python's training pairs are the same
    _run(tiny_bert, code_tree, tmp_path, "--limit", "3")
    err = capsys.readouterr().err
    assert "adapter python: cached" in err
    assert {k: len(v) for k, v in _trained(tmp_path).items()} == {"python": 1, "c": 1}


def test_other_training_pairs_train_another_adapter(
    tiny_bert: Path, code_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _run(tiny_bert, code_tree, tmp_path, "--languages", "python")
    # a larger test share leaves python fewer training pairs: a new adapter
    _run(tiny_bert, code_tree, tmp_path, "--languages", "python",
         "--set", "dataset.test_fraction=0.5")  # fmt: skip
    assert "adapter python: cached" not in capsys.readouterr().err
    (first, second) = _trained(tmp_path)["python"]
    pairs = [
        json.loads((tmp_path / "c" / "adapters" / key / "harness_adapter.json").read_text())[
            "identity"
        ]["n_train_pairs"]
        for key in (first, second)
    ]
    assert sorted(pairs)[0] < sorted(pairs)[1]
