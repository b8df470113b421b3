"""`harness run` end to end on a tiny model and a generated source tree.

The per-query numbers are recomputed by a second method: the model run by
hand with transformers, mean pooling written out, and ranks read off a full
argsort in which tied irrelevant candidates go first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from harness.results import read_examples, read_result


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture
def run_args(tiny_bert: Path, code_tree: Path, tmp_path: Path) -> list[str]:
    return [
        "run", "--model", f"hf:{tiny_bert}", "--strategy", "none", "--task", "t2c",
        "--data-dir", str(code_tree), "--results", str(tmp_path / "results"),
        "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
        "--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0",
    ]  # fmt: skip


def _embed(model_dir: Path, texts: list[str]) -> np.ndarray:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            batch = tokenizer([text], truncation=True, max_length=128, return_tensors="pt")
            hidden = model(**batch).last_hidden_state[0]
            mean = hidden.mean(dim=0).double().numpy()
            rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def _pessimistic_rank(scores: np.ndarray, gold: int) -> int:
    # Sort by score descending; among equal scores, the gold goes last.
    order = sorted(range(len(scores)), key=lambda j: (-round(scores[j], 6), j == gold))
    return order.index(gold) + 1


def _csn_rows(cache: Path, language: str) -> list[dict]:
    (path,) = cache.glob(f"local/*/{language}/test.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_writes_results_that_a_second_method_reproduces(
    run_args: list[str], tiny_bert: Path, tmp_path: Path
):
    out = _harness(*run_args, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = {row["partition"]: row for row in json.loads(out.stdout)}
    assert set(summary) == {"c", "python"}

    for language in ("c", "python"):
        result_file = next((tmp_path / "results").rglob(f"{language}.json"))
        result = read_result(result_file)
        rows = read_examples(result_file)
        pairs = _csn_rows(tmp_path / "cache", language)
        assert result.n_examples == len(rows) == len(pairs) == result.n_candidates
        assert result.versions["torch"] == torch.__version__

        queries = _embed(tiny_bert, [p["docstring"] for p in pairs])
        corpus = _embed(tiny_bert, [p["code"] for p in pairs])
        scores = queries @ corpus.T
        by_id = {row["id"]: row for row in rows}
        expected_rr = []
        for i, pair in enumerate(pairs):
            rank = _pessimistic_rank(scores[i], i)
            row = by_id[pair["url"]]
            assert row["rank"] == rank, pair["url"]
            assert row["mrr"] == pytest.approx(1 / rank)
            assert row["recall@1"] == (1.0 if rank == 1 else 0.0)
            assert row["ndcg@10"] == pytest.approx(1 / np.log2(rank + 1) if rank <= 10 else 0)
            expected_rr.append(1 / rank)
        mrr = result.metrics["mrr"]
        assert mrr.value == pytest.approx(np.mean(expected_rr))
        assert mrr.ci_low <= mrr.value <= mrr.ci_high
        assert summary[language]["metrics"]["mrr"]["value"] == pytest.approx(mrr.value)


def test_rerun_skips_complete_partitions_and_overwrite_redoes_them(
    run_args: list[str], tmp_path: Path
):
    first = _harness(*run_args, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _harness(*run_args, "--json", cwd=tmp_path)
    assert [row["reused"] for row in json.loads(again.stdout)] == [True, True]
    assert "complete in" in again.stderr
    redo = _harness(*run_args, "--json", "--overwrite", cwd=tmp_path)
    assert [row["reused"] for row in json.loads(redo.stdout)] == [False, False]


def test_languages_and_limit(run_args: list[str], tmp_path: Path):
    out = _harness(*run_args, "--json", "--languages", "python", "--limit", "5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["partition"] == "python" and row["n_examples"] == 5
    full = _harness(*run_args, "--json", "--languages", "python", cwd=tmp_path)
    (whole,) = json.loads(full.stdout)
    # the first 5 queries, each ranked among every test function, as in the full run
    assert whole["n_examples"] > 5 and row["n_candidates"] == whole["n_candidates"]
    assert "not comparable" in out.stderr


def test_table_output_shows_metrics_x100_with_intervals(run_args: list[str], tmp_path: Path):
    out = _harness(*run_args, "--languages", "python", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = read_result(next((tmp_path / "results").rglob("python.json")))
    mrr = result.metrics["mrr"]
    cell = f"{100 * mrr.value:.2f} [{100 * mrr.ci_low:.1f}, {100 * mrr.ci_high:.1f}]"
    assert cell in out.stdout
    assert "MRR" in out.stdout and "NDCG@10" in out.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--model", "minlm"], "unknown encoder 'minlm'; did you mean 'minilm'?"),
        (["--strategy", "nne"], "unknown strategy 'nne'; did you mean 'none'?"),
        (["--languages", "cobol"], "'cobol'"),
        (["--model", "hf:/nowhere/at/all"], "/nowhere/at/all"),
    ],
)
def test_bad_requests_end_in_one_line_and_exit_2(
    run_args: list[str], tmp_path: Path, change: list[str], message: str
):
    args = list(run_args)
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    out = _harness(*args, cwd=tmp_path)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.startswith("harness: error")]
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert not list((tmp_path / "results").rglob("*.json"))


def test_a_result_made_when_512_was_the_default_length_is_recomputed(
    run_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Before --max-length defaulted to the model's own, a plain run stored max_length 512
    (its identity said nothing); a rerun now, which may embed at another length, must
    compute afresh, never reuse it."""
    from harness.cli import main
    from harness.results import config_hash, find_results, read_result, write_result
    from harness.results import read_examples as read_rows

    assert main([*run_args, "--languages", "python", "--bootstrap", "10"]) == 0
    (path,) = find_results(tmp_path / "results")
    result = read_result(path)
    old = {**result.config, "encoder": {**result.config["encoder"], "max_length": 512}}
    # the config the hash covers: the stored one without what the run adds after hashing
    partition_config = {k: v for k, v in old.items()
                        if k not in ("encoder_info", "replicate_of", "variant")}  # fmt: skip
    result.config, result.config_hash = old, config_hash(partition_config)
    write_result(path, result, read_rows(path, result.examples_sha256))
    capsys.readouterr()
    assert main([*run_args, "--languages", "python", "--bootstrap", "10"]) == 0
    shown = capsys.readouterr()
    assert "skipped" not in shown.out + shown.err
    assert read_result(path).config["encoder"]["max_length"] is None


def test_a_run_of_another_split_ends_with_its_leaderboard(
    run_args: list[str], capsys: pytest.CaptureFixture[str]
):
    """The table at the end of a run reads the results where they are stored:
    ``local@valid`` for --split valid (it looked under ``local`` and failed)."""
    from harness.cli import main

    args = [a if a != "dataset.valid_fraction=0.0" else "dataset.valid_fraction=0.3"
            for a in run_args]  # fmt: skip
    assert (
        main(
            [
                *args,
                "--split",
                "valid",
                "--languages",
                "python",
                "--bootstrap",
                "10",
                "--seeds",
                "0,1",
            ]
        )
        == 0
    )  # a matrix (two cells) ends with its table
    shown = capsys.readouterr()
    assert "local@valid" in shown.out + shown.err and "no results" not in shown.err


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_every_command_lets_waiting_threads_sleep_unless_told_otherwise(
    given: str | None, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """OMP_WAIT_POLICY is set before any command can start torch; a user's value stays."""
    from harness.cli import main

    if given is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    assert main(["list"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == expected
