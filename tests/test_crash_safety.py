"""Crashes and concurrency: `harness run` killed with SIGKILL resumes to the same result files;
two runs writing one store at once leave both intact; the same command twice gives the same files.

A run here is a real ``python -m harness run`` process on the tiny random BERT
and a generated source tree: LoRA task-wise training (8 steps, a checkpoint
every 4), then retrieval on two partitions (c, python). A killed run is the
same command in a process that sends itself SIGKILL at a chosen point (the
hooks are installed by a wrapper script, the harness code is unchanged).
Result files are compared whole, but for the fields that measure time.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
from conftest import write_code_tree

from harness.results import (
    MetricValue,
    Result,
    completed,
    config_hash,
    examples_path,
    read_examples,
    read_result,
    result_lock,
    write_result,
)

KILLER = """
import os, signal, sys
import harness.plugins.lora.trainer as trainer
import harness.plugins.retrieval_eval as retrieval_eval
from harness.cli import main

point, args = sys.argv[1], sys.argv[2:]
calls = {"n": 0}

def dying(original, at):
    def wrapped(*a, **k):
        calls["n"] += 1
        if calls["n"] == at and point != "writing":
            os.kill(os.getpid(), signal.SIGKILL)
        out = original(*a, **k)
        if calls["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return wrapped

if point == "training":  # in step 6 of 8: the last checkpoint is step 4's
    trainer.info_nce = dying(trainer.info_nce, 6)
elif point == "evaluation":  # the second partition encoded, not yet ranked
    retrieval_eval.relevant_ranks = dying(retrieval_eval.relevant_ranks, 2)
elif point == "writing":  # the second partition's JSONL renamed into place, its JSON not
    import harness.atomic as atomic

    class ResultRenames:  # os, but a rename into the result store is counted
        def __getattr__(self, name):
            return getattr(os, name)

        def replace(self, src, dst):
            if str(dst).endswith((".json", ".jsonl")) and "/results/" in str(dst):
                return counted(src, dst)
            return os.replace(src, dst)

    counted = dying(os.replace, 3)
    atomic.os = ResultRenames()
sys.exit(main(args))
"""

# What measures time, and git_sha: the checkout's commit, which moves if someone commits
# between two runs of a test (what it records is the same code either way).
TIMING_LIKE = ("timings", "created", "seconds", "git_sha")


def comparable(value: Any, drop: tuple[str, ...] = TIMING_LIKE) -> Any:
    """`value` without the fields that measure time (at any depth)."""
    if isinstance(value, dict):
        return {k: comparable(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [comparable(v, drop) for v in value]
    return value


def differences(a: Any, b: Any, at: str = "") -> list[str]:
    """Where two snapshots differ, one line per differing leaf (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(
            a.get(k, "<absent>"), b.get(k, "<absent>"), f"{at}/{k}")]  # fmt: skip
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{at}[{i}]")]  # fmt: skip
    return [] if a == b else [f"{at}: {str(a)[:200]} != {str(b)[:200]}"]


def snapshot(results: Path, drop: tuple[str, ...] = TIMING_LIKE) -> dict[str, Any]:
    """Every result file of a store: JSON without timings, JSONL as its bytes."""
    found: dict[str, Any] = {}
    for path in sorted(results.rglob("*.json*")):
        if path.name.startswith("."):  # locks and temporary files
            continue
        key = str(path.relative_to(results))
        if path.suffix == ".json":
            found[key] = comparable(json.loads(path.read_text()), drop)
        else:
            found[key] = path.read_bytes()
    return found


def command(model: Path, tree: Path, results: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "run", "--model", f"hf:{model}", "--task", "t2c", "--strategy", "taskwise",
        "--data-dir", str(tree), "--results", str(results), "--cache-dir", str(cache),
        "--device", "cpu", "--bootstrap", "200", "--json",
        "--set", "dataset.test_fraction=0.4", "--set", "dataset.valid_fraction=0.0",
        "--set", "strategy.max_steps=8", "--set", "strategy.checkpoint_every=4",
        "--set", "strategy.batch_size=8", "--set", "strategy.max_length=32",
        "--set", "strategy.r=4", "--set", "strategy.alpha=8", "--set", "strategy.epochs=4", *extra,
    ]  # fmt: skip


def harness(args: list[str], kill: str | None = None, **popen: Any) -> Any:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1"}
    if kill is None:
        argv = [sys.executable, "-m", "harness", *args]
    else:
        argv = [sys.executable, "-c", KILLER, kill, *args]
    if popen:
        return subprocess.Popen(argv, env=env, text=True, **popen)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def setup(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted run: what every interrupted one must end with."""
    base = tmp_path_factory.mktemp("crash")
    tree = write_code_tree(base / "tree", n_python=40, n_c=24)
    places = {"model": tiny_bert, "tree": tree, "results": base / "results", "cache": base / "c"}
    done = harness(command(*places.values()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert {row["partition"] for row in json.loads(done.stdout)} == {"c", "python"}
    return {**places, "reference": snapshot(places["results"])}


def _fresh(setup: dict[str, Any]) -> list[str]:
    """The reference's command, its store and cache emptied (same paths, same config)."""
    shutil.rmtree(setup["results"], ignore_errors=True)
    shutil.rmtree(setup["cache"], ignore_errors=True)
    return command(setup["model"], setup["tree"], setup["results"], setup["cache"])


@pytest.mark.slow
def test_the_same_command_twice_gives_the_same_files_but_for_timings(setup):
    args = _fresh(setup)
    again = harness(args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert differences(snapshot(setup["results"]), setup["reference"]) == []
    files = snapshot(setup["results"])
    assert len(files) == 4  # c and python: a JSON and a JSONL each
    assert all(value for value in files.values())


@pytest.mark.slow
def test_killed_during_training_resumes_from_its_last_checkpoint(setup):
    args = _fresh(setup)
    killed = harness(args, kill="training")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (checkpoint,) = setup["cache"].glob("adapters/.work/*/checkpoint/state.json")
    assert json.loads(checkpoint.read_text())["step"] == 4
    assert not list(setup["results"].rglob("*.json"))
    resumed = harness(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The adapter resumed at step 4 (and says so); everything else equals the uninterrupted run.
    for path in setup["results"].rglob("*.json"):
        training = read_result(path).config["encoder_info"]["adapter_training"]
        assert training["resumed_from"] == 4 and training["steps"] == 8
    drop = (*TIMING_LIKE, "resumed_from")
    expected = {k: comparable(v, drop) for k, v in setup["reference"].items()}
    assert differences(snapshot(setup["results"], drop), expected) == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["evaluation", "writing"])
def test_killed_during_evaluation_resumes_from_the_last_complete_partition(setup, point):
    args = _fresh(setup)
    killed = harness(args, kill=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [p.name for p in setup["results"].rglob("*.json")] == ["c.json"]
    resumed = harness(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reused = {row["partition"]: row["reused"] for row in json.loads(resumed.stdout)}
    assert reused == {"c": True, "python": False}
    assert "adapter task: cached" in resumed.stderr
    assert differences(snapshot(setup["results"]), setup["reference"]) == []


@pytest.mark.slow
def test_two_runs_writing_one_store_at_once_leave_both_intact(setup):
    """`langwise` on python alone and on (c, python), at once, one store and one cache: both
    need the python adapter (trained once: the other run waits for it, then loads it) and
    both write python's result."""
    args = _fresh(setup)
    langwise = [a if a != "taskwise" else "langwise" for a in args]
    both = [
        harness(
            [*langwise, "--languages", "python"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ),
        harness(langwise, stdout=PIPE, stderr=PIPE),
    ]
    outputs = [process.communicate(timeout=600) for process in both]
    for process, (_, err) in zip(both, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    stderr = "".join(err for _, err in outputs)
    assert stderr.count("adapter python: 8 steps") == 1, stderr
    assert stderr.count("adapter python: cached") == 1, stderr
    together = snapshot(setup["results"])
    for path in setup["results"].rglob("*.json"):
        assert read_result(path).n_examples == len(read_examples(path))
    # The same as the two runs one after the other.
    shutil.rmtree(setup["results"])
    shutil.rmtree(setup["cache"])
    stores = []
    for sequential in ([*langwise, "--languages", "python"], langwise):
        assert harness(sequential).returncode == 0
        stores.append(snapshot(setup["results"]))
    python_alone, expected = stores
    # python.json is written by both runs and its config names the writing run's adapters
    # (one of them, or both): whichever run wrote it last, it is that run's whole result
    for key in [k for k in together if k.endswith("python.json")]:
        if together[key] == python_alone[key]:
            expected[key] = python_alone[key]
    assert differences(together, expected) == []
    assert sorted(Path(name).name for name in together) == [
        "c.json", "c.jsonl", "python.json", "python.jsonl"
    ]  # fmt: skip


# --- the lock, on its own -----------------------------------------------------------------------


def _result(n: int) -> Result:
    return Result(
        model="m", strategy="none", task="t2c", dataset="d", partition="p",
        metrics={"mrr": MetricValue(0.5, 0.4, 0.6)}, main_score="mrr", n_examples=n,
        n_candidates=n, config={"n": n}, versions={}, git_sha="", seed=0, device="cpu",
        config_hash=config_hash({"n": n}),
    )  # fmt: skip


def _writer(path: str, n: int, times: int) -> None:
    for _ in range(times):
        write_result(Path(path), _result(n), [{"id": f"e{i}", "mrr": 0.5} for i in range(n)])


def _reader(path: str, times: int, queue: Any) -> None:
    """Reads the pair under the shared lock; reports any JSON whose JSONL has other rows."""
    mismatches = 0
    for _ in range(times):
        with result_lock(Path(path), shared=True):
            if not examples_path(Path(path)).exists() or not Path(path).exists():
                continue
            n = read_result(Path(path)).n_examples
            mismatches += n != len(read_examples(Path(path)))
    queue.put(mismatches)


def test_writers_of_one_result_take_turns_so_its_two_files_always_match(tmp_path: Path):
    path = tmp_path / "store" / "p.json"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_writer, args=(str(path), 2, 150)),
        context.Process(target=_writer, args=(str(path), 5, 150)),
        context.Process(target=_reader, args=(str(path), 300, queue)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert queue.get(timeout=10) == 0
    final = read_result(path)
    assert final.n_examples == len(read_examples(path)) in (2, 5)
    assert completed(path, final.config_hash) == final
    assert not list(path.parent.glob(".*.tmp"))
