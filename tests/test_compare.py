"""`harness compare`: pairing by example id, refusals, Holm over the family, output.

`write_run` builds result stores in tmp_path with harness.results.write_result;
the leaderboard and check tests use it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.compare import compare_paths
from harness.errors import InputError
from harness.results import MetricValue, Result, result_path, write_result
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test
from harness.stats import summarize


def write_run(
    root: Path,
    scores: Mapping[str, Sequence[float]],
    *,
    ids: Sequence[str] | None = None,
    model: str = "enc",
    strategy: str = "none",
    task: str = "t2c",
    dataset: str = "local",
    partition: str = "python",
    created: str = "2026-01-02T03:04:05+00:00",
    config: Mapping[str, object] | None = None,
) -> Path:
    """One partition's result and its per-example JSONL; metrics and intervals from `scores`."""
    names = list(scores)
    n = len(scores[names[0]])
    ids = list(ids) if ids is not None else [f"ex{i:03d}" for i in range(n)]
    rows = [{"id": ids[i], **{m: float(scores[m][i]) for m in names}} for i in range(n)]
    summary = summarize(rows, names, n_resamples=1000, seed=0)
    result = Result(
        model=model,
        strategy=strategy,
        task=task,
        dataset=dataset,
        partition=partition,
        metrics={k: MetricValue(**v) for k, v in summary.items()},
        main_score=names[0],
        n_examples=n,
        n_candidates=n,
        config={
            "dataset": {"name": dataset, "cache_key": "abc123", "protocol": "full corpus"},
            "split": "test",
            "limit": None,
            "seed": 0,
            "n_resamples": 1000,
            **(config or {}),
        },
        versions={"harness": "0.1.0"},
        git_sha="0123456789abcdef",
        seed=0,
        device="cpu",
        created=created,
    )
    path = result_path(
        root, task=task, dataset=dataset, model=model, strategy=strategy, partition=partition
    )
    write_result(path, result, rows)
    return path


def _pair(n: int = 120, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = 1.0 / rng.integers(1, 8, size=n)
    b = np.clip(a + rng.normal(shift, 0.15, size=n), 0, 1)
    return a, b


def test_differences_intervals_and_p_values_are_those_of_the_paired_statistics(tmp_path: Path):
    a, b = _pair(shift=0.05)
    write_run(tmp_path / "A", {"mrr": a, "ndcg@10": a / 2})
    write_run(tmp_path / "B", {"mrr": b, "ndcg@10": b / 2})
    comparisons, _ = compare_paths(tmp_path / "A", tmp_path / "B", seed=3)
    by_metric = {c.metric: c for c in comparisons}
    assert list(by_metric) == ["mrr", "ndcg@10"]  # the main score first
    mrr = by_metric["mrr"]
    assert mrr.n == 120
    assert mrr.difference == pytest.approx(b.mean() - a.mean())
    assert (mrr.ci_low, mrr.ci_high) == paired_bootstrap_ci(a, b, seed=3)
    p = [sign_flip_test(a, b, seed=3), sign_flip_test(a / 2, b / 2, seed=3)]
    assert [c.p_value for c in comparisons] == pytest.approx(p)
    assert [c.p_holm for c in comparisons] == pytest.approx(holm(p))


def test_examples_are_paired_by_id_not_by_line(tmp_path: Path):
    a, b = _pair(shift=0.05)
    ids = [f"q{i}" for i in range(len(a))]
    order = np.random.default_rng(1).permutation(len(a))
    write_run(tmp_path / "A", {"mrr": a}, ids=ids)
    write_run(tmp_path / "B", {"mrr": b[order]}, ids=[ids[i] for i in order])
    (shuffled,), _ = compare_paths(tmp_path / "A", tmp_path / "B")
    assert shuffled.p_value == sign_flip_test(a, b)
    assert (shuffled.ci_low, shuffled.ci_high) == paired_bootstrap_ci(a, b)


def test_all_partitions_form_one_holm_family(tmp_path: Path):
    for partition, shift in (("python", 0.08), ("go", 0.0), ("c", -0.02)):
        a, b = _pair(shift=shift, seed=len(partition))
        write_run(tmp_path / "A", {"mrr": a}, partition=partition)
        write_run(tmp_path / "B", {"mrr": b}, partition=partition)
    comparisons, pairs = compare_paths(tmp_path / "A", tmp_path / "B")
    assert [c.partition for c in comparisons] == ["c", "go", "python"]
    assert len(pairs) == 3
    assert [c.p_holm for c in comparisons] == holm([c.p_value for c in comparisons])
    assert comparisons[2].significant() and not comparisons[1].significant()


def test_different_example_sets_are_refused_with_what_differs(tmp_path: Path):
    a, b = _pair(n=10)
    write_run(tmp_path / "A", {"mrr": a}, ids=[f"q{i}" for i in range(10)])
    write_run(tmp_path / "B", {"mrr": b[:9]}, ids=[*(f"q{i}" for i in range(8)), "other"])
    with pytest.raises(InputError) as error:
        compare_paths(tmp_path / "A", tmp_path / "B")
    message = str(error.value)
    assert "t2c/local/python" in message
    assert "A has 10, B has 9" in message
    assert "only in A: 'q8', 'q9'" in message
    assert "only in B: 'other'" in message


def test_duplicate_ids_are_refused(tmp_path: Path):
    write_run(tmp_path / "A", {"mrr": [1.0, 0.5]}, ids=["q", "q"])
    write_run(tmp_path / "B", {"mrr": [1.0, 0.5]}, ids=["q", "r"])
    with pytest.raises(InputError, match="'q' occurs more than once"):
        compare_paths(tmp_path / "A", tmp_path / "B")


def test_a_store_with_several_systems_per_partition_is_ambiguous(tmp_path: Path):
    write_run(tmp_path / "A", {"mrr": [1.0, 0.5]})
    write_run(tmp_path / "A", {"mrr": [1.0, 0.5]}, strategy="langwise")
    write_run(tmp_path / "B", {"mrr": [1.0, 0.5]})
    with pytest.raises(InputError, match="several runs of t2c/local/python"):
        compare_paths(tmp_path / "A", tmp_path / "B")
    # Pointing at the strategy folders (or the files) removes the ambiguity.
    folder = tmp_path / "A" / "t2c" / "local" / "enc"
    comparisons, _ = compare_paths(folder / "langwise", folder / "none")
    assert comparisons[0].p_value == 1.0


def test_no_common_partition_is_refused(tmp_path: Path):
    write_run(tmp_path / "A", {"mrr": [1.0]}, partition="python")
    write_run(tmp_path / "A", {"mrr": [1.0]}, partition="go")
    write_run(tmp_path / "B", {"mrr": [1.0]}, partition="c")
    write_run(tmp_path / "B", {"mrr": [1.0]}, partition="cpp")
    with pytest.raises(InputError, match="no .task, dataset, partition. in common"):
        compare_paths(tmp_path / "A", tmp_path / "B")


def test_cli_prints_a_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    a, b = _pair(shift=0.1)
    file_a = write_run(tmp_path / "A", {"mrr": a}, config={"encoder": {"dtype": "float32"}})
    file_b = write_run(tmp_path / "B", {"mrr": b}, config={"encoder": {"dtype": "bfloat16"}})
    assert main(["compare", str(file_a), str(file_b)]) == 0
    out = capsys.readouterr().out
    assert "configs differ in: encoder.dtype: float32 | bfloat16" in out
    row = next(line for line in out.splitlines() if line.startswith("t2c"))
    assert f"{100 * (b.mean() - a.mean()):+.2f}" in row
    assert row.rstrip().endswith("*")  # significant
    assert main(["compare", str(file_a), str(file_b), "--json", "--metric", "mrr"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["significant"] is True
    assert record["difference"] == pytest.approx(b.mean() - a.mean())


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_run(tmp_path / "A", {"mrr": [1.0]})
    assert main(["compare", str(tmp_path / "A"), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1
    assert main(["compare", str(tmp_path / "A"), str(tmp_path / "A"), "--metric", "ndcg"]) == 2
    assert "metric 'ndcg' is not in both runs" in capsys.readouterr().err
