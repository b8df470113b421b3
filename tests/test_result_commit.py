"""A result is committed whole or not at all (issue 17): a run killed at any point of
writing, or a full disk, never leaves a JSON beside a JSONL it was not written with."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import atomic
from harness.errors import InputError
from harness.results import (
    MetricValue,
    Result,
    completed,
    config_hash,
    examples_path,
    find_results,
    read_examples,
    read_result,
    write_result,
)


def _result(mrr: float, n: int) -> Result:
    return Result(
        model="m", strategy="none", task="t2c", dataset="local", partition="python",
        metrics={"mrr": MetricValue(mrr, mrr, mrr)}, main_score="mrr", n_examples=n,
        n_candidates=n, config={"seed": 0}, versions={}, git_sha="", seed=0, device="cpu",
        config_hash=config_hash({"run": "a" if mrr == 1.0 else "b"}),
    )  # fmt: skip


ROWS_A = [{"id": str(i), "mrr": 1.0} for i in range(20)]
ROWS_B = [{"id": str(i), "mrr": 0.75} for i in range(20)]

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from harness import atomic
    from harness.results import MetricValue, Result, config_hash, write_result
    point = int(sys.argv[2])
    calls = {"n": 0}
    real_stage, real_replace = atomic.stage, atomic.os.replace

    def step():
        calls["n"] += 1
        if calls["n"] == point:
            os.kill(os.getpid(), signal.SIGKILL)

    def stage(path, data):
        out = real_stage(path, data)
        step()
        return out

    def replace(a, b):
        real_replace(a, b)
        step()

    atomic.stage, atomic.os.replace = stage, replace
    result = Result(model="m", strategy="none", task="t2c", dataset="local",
                    partition="python", metrics={"mrr": MetricValue(0.75, 0.75, 0.75)},
                    main_score="mrr", n_examples=20, n_candidates=20, config={"seed": 0},
                    versions={}, git_sha="", seed=0, device="cpu",
                    config_hash=config_hash({"run": "b"}))
    write_result(__import__("pathlib").Path(sys.argv[1]), result,
                 [{"id": str(i), "mrr": 0.75} for i in range(20)])
    """
)


@pytest.mark.parametrize("point", [1, 2, 3, 4])  # after each staging and each rename
def test_a_run_killed_at_any_point_of_writing_leaves_no_mismatched_pair(tmp_path, point):
    path = tmp_path / "python.json"
    write_result(path, _result(1.0, 20), ROWS_A)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(path), str(point)], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    stored = read_result(path)
    a_intact = completed(path, config_hash({"run": "a"})) is not None
    b_whole = completed(path, config_hash({"run": "b"})) is not None
    if a_intact:  # nothing was renamed: A is whole, and its rows are A's
        assert read_examples(path, stored.examples_sha256) == ROWS_A
    elif b_whole:  # both renamed
        assert point == 4 and read_examples(path, stored.examples_sha256) == ROWS_B
    else:  # killed between the renames: A's JSON beside B's JSONL, which no reader trusts
        assert point == 3 and stored.metrics["mrr"].value == 1.0
        with pytest.raises(InputError, match="do not belong"):
            read_examples(path, stored.examples_sha256)
    assert a_intact == (point < 3)
    assert find_results(tmp_path) == [path]  # a staged file a kill left behind is no result


def test_a_full_disk_replaces_neither_file(tmp_path, monkeypatch):
    path = tmp_path / "python.json"
    write_result(path, _result(1.0, 20), ROWS_A)
    before = (path.read_bytes(), examples_path(path).read_bytes())
    real_stage = atomic.stage

    def full(target: Path, data):
        if target.suffix == ".json":  # the second file: the disk is full by now
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_stage(target, data)

    monkeypatch.setattr(atomic, "stage", full)
    with pytest.raises(OSError, match="No space left"):
        write_result(path, _result(0.75, 20), ROWS_B)
    assert (path.read_bytes(), examples_path(path).read_bytes()) == before
    assert completed(path, config_hash({"run": "a"})) is not None
    assert not list(tmp_path.glob(".*.tmp"))


def test_new_result_files_follow_the_umask(tmp_path):
    path = tmp_path / "python.json"
    write_result(path, _result(1.0, 20), ROWS_A)
    mask = os.umask(0)
    os.umask(mask)
    for file in (path, examples_path(path)):
        assert file.stat().st_mode & 0o777 == 0o666 & ~mask


def _damage(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


DAMAGES = {
    "NaN metric": lambda t: _damage(t, '"value": 1.0', '"value": NaN'),
    "string metric": lambda t: _damage(t, '"value": 1.0', '"value": "high"'),
    "null model": lambda t: _damage(t, '"model": "m"', '"model": null'),
    "numeric partition": lambda t: _damage(t, '"partition": "python"', '"partition": 3'),
    "negative count": lambda t: _damage(t, '"n_examples": 20', '"n_examples": -1'),
    "infinite timing": lambda t: _damage(t, '"timings": {}', '"timings": {"s": Infinity}'),
    "deep nesting": lambda t: _damage(t, '"config": {', '"config": {"x": ' + "[" * 100000
                                      + "]" * 100000 + ", "),
}  # fmt: skip


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_result_is_refused_by_readers_and_recomputed_by_run(tmp_path, damage):
    path = tmp_path / "python.json"
    write_result(path, _result(1.0, 20), ROWS_A)
    path.write_text(DAMAGES[damage](path.read_text()))
    with pytest.raises(InputError) as caught:
        read_result(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert completed(path, config_hash({"run": "a"})) is None  # run recomputes it


def test_bytes_that_are_not_utf8_are_a_one_line_error(tmp_path):
    path = tmp_path / "python.json"
    write_result(path, _result(1.0, 20), ROWS_A)
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    with pytest.raises(InputError, match="cannot read result"):
        read_result(path)
    examples_path(path).write_bytes(b"\xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_examples(path)


def _run_args(tiny_bert: Path, code_tree: Path, results: Path, cache: Path) -> list[str]:
    return [
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(results), "--cache-dir", str(cache), "--device", "cpu",
    ]  # fmt: skip


@pytest.mark.parametrize("where", ["results", "cache"])
@pytest.mark.parametrize("how", ["a file", "under /proc"])
def test_an_unwritable_output_is_refused_before_any_work(
    tiny_bert, code_tree, tmp_path, capfd, where, how
):
    from harness.cli import main

    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    bad = blocked if how == "a file" else Path("/proc/harness-results")
    results = bad if where == "results" else tmp_path / "results"
    cache = bad if where == "cache" else tmp_path / "cache"
    assert main(_run_args(tiny_bert, code_tree, results, cache)) == 2
    err = capfd.readouterr().err.strip()
    flag = "--results" if where == "results" else "--cache-dir"
    assert err.startswith(f"harness: error: {flag} {bad} cannot be written") and "\n" not in err
    # checked before the data was mined or a model loaded: nothing cached, nothing stored
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    assert not (tmp_path / "results").exists() or not find_results(tmp_path / "results")


def test_a_full_disk_mid_run_is_one_line_naming_what_was_kept(
    tiny_bert, code_tree, tmp_path, capfd, monkeypatch
):
    from harness.cli import main

    real_stage = atomic.stage

    def full_for_python(target: Path, data):
        if target.stem == "python":  # c is written first, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_stage(target, data)

    monkeypatch.setattr(atomic, "stage", full_for_python)
    args = _run_args(tiny_bert, code_tree, tmp_path / "results", tmp_path / "cache")
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "No space left on device; python was not stored" in err and err.endswith("kept: c")
    stored = sorted(p.stem for p in find_results(tmp_path / "results"))
    assert stored == ["c"]


@pytest.mark.parametrize("command", ["compare", "leaderboard"])
def test_every_reader_refuses_a_pair_not_written_together(tmp_path, capfd, command):
    """The issue's case: A's JSON (MRR 1.0) beside another run's JSONL (0.75)."""
    from test_compare import write_run

    from harness.cli import main

    a = write_run(tmp_path / "a", {"mrr": [1.0] * 20})
    b = write_run(tmp_path / "b", {"mrr": [1.0] * 20})
    examples_path(b).write_text("".join(f'{{"id": "ex{i:03d}", "mrr": 0.75}}\n' for i in range(20)))
    args = {
        "compare": ["compare", str(a), str(b)],
        "leaderboard": ["leaderboard", "--task", "t2c", "--results", str(tmp_path / "b")],
    }[command]
    assert main(args) == 2
    err = capfd.readouterr().err.strip()
    assert err.startswith(f"harness: error: {examples_path(b)}: per-example scores do not belong")
