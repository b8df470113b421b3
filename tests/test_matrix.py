"""Experiment matrices: lists and config files expanded into cells, invalid cells skipped,
equal cells run once, work shared between cells, and an interrupted matrix resumed.

The end-to-end tests run `harness run` in this process (the tiny BERT and the generated
source tree of conftest.py) so that spies can count what the base encoder is asked for.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tomllib

from harness.cli import build_parser, main
from harness.cli_args import positive_int
from harness.exp_config import Sweep, cli_setting, dumps_toml, spec_from_args
from harness.matrix import expand
from harness.plugin_manager import plugins
from harness.plugins.encoders import hf_encoder
from harness.results import find_results, read_examples, read_result
from harness.sharing import MemoizedEncoder, SharedWork
from harness.strategy import Strategy

TRAIN = ["--set", "lora.batch_size=4", "--set", "lora.max_steps=2", "--set", "lora.max_length=32"]


def _cells(*argv: str) -> list:
    args = build_parser().parse_args(["run", *argv])
    return expand(spec_from_args(args))


def _settings(cell) -> dict:
    return {f"{s}.{k}": v for s, values in cell.request.settings.items() for k, v in values.items()}


# --- expansion ----------------------------------------------------------------------------


def test_lists_are_crossed_by_default():
    cells = _cells("--model", "a,b", "--strategy", "none,taskwise", "--task", "t2c",
                   "--set", "lora.r=32,64", "--set", "lora.alpha=64,128")  # fmt: skip
    got = [(c.request.model, c.request.strategy, _settings(c)["strategy.r"],
            _settings(c)["strategy.alpha"]) for c in cells]  # fmt: skip
    assert sorted(got) == sorted(itertools.product("ab", ["none", "taskwise"], [32, 64], [64, 128]))
    assert len(cells) == 16
    assert [c.number for c in cells] == list(range(1, 17))
    assert [c.request.model for c in cells[:8]] == ["a"] * 8  # models outermost


def test_zip_pairs_the_setting_lists_in_order_and_still_crosses_the_names():
    cells = _cells("--model", "a", "--strategy", "none,taskwise", "--task", "t2c,c2c", "--set",
                   "lora.r=32,64", "--set", "lora.alpha=64,128", "--sweep", "zip")  # fmt: skip
    pairs = {(_settings(c)["strategy.r"], _settings(c)["strategy.alpha"]) for c in cells}
    assert pairs == {(32, 64), (64, 128)}
    assert len(cells) == 2 * 2 * 2
    assert cells[0].axes == {"strategy.r": 32, "strategy.alpha": 64}


def test_zip_of_lists_of_different_lengths_is_a_one_line_error(capsys):
    code = main(["run", "--model", "a", "--task", "t2c", "--set", "lora.r=8,16",
                 "--set", "lora.alpha=1,2,3", "--sweep", "zip"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "harness: error: --sweep zip needs lists of one length: "
        "strategy.r has 2, strategy.alpha has 3"
    ]


def test_which_set_values_are_lists():
    assert cli_setting("32,64") == Sweep((32, 64))
    assert cli_setting("1e-3,5e-4") == Sweep((0.001, 0.0005))
    assert cli_setting("true,false") == Sweep((True, False))
    assert cli_setting("query,value") == "query,value"  # a list-valued option: one value
    assert cli_setting("bf16|fp32") == Sweep(("bf16", "fp32"))
    assert cli_setting("query,value|query,key,value") == Sweep(("query,value", "query,key,value"))
    assert cli_setting(["query", "value"]) == ["query", "value"]  # JSON: one value
    (cell,) = _cells("--model", "m", "--task", "t2c", "--set", "lora.target_modules=query,value")
    assert cell.request.settings == {"strategy": {"target_modules": "query,value"}}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_config_file_expands_like_the_flags(tmp_path: Path):
    config = _write(tmp_path / "exp.toml", """
model = ["a", "b"]
strategy = ["none", "taskwise"]
task = "t2c"
seed = [0, 1]
max-length = 128

[set.lora]
r = [32, 64]
target_modules = "query,value"
""")  # fmt: skip
    from_file = _cells("--config", str(config))
    from_flags = _cells("--model", "a,b", "--strategy", "none,taskwise", "--task", "t2c",
                        "--set", "lora.r=32,64", "--set", "lora.target_modules=query,value",
                        "--max-length", "128")  # fmt: skip
    assert len(from_file) == 2 * 2 * 2 * 2
    assert {c.request.seed for c in from_file} == {0, 1}
    assert all(c.request.max_length == 128 for c in from_file)
    assert all(_settings(c)["strategy.target_modules"] == "query,value" for c in from_file)
    by_file = {(c.request.model, c.request.strategy, _settings(c)["strategy.r"]) for c in from_file}
    assert by_file == {(c.request.model, c.request.strategy, _settings(c)["strategy.r"])
                       for c in from_flags}  # fmt: skip


def test_flags_override_the_config_file_key_by_key(tmp_path: Path):
    config = _write(tmp_path / "exp.toml", """
model = "a"
strategy = ["none", "taskwise"]
task = "t2c"
seed = 3
[set.strategy]
r = [32, 64]
alpha = 16
""")  # fmt: skip
    cells = _cells("--config", str(config), "--strategy", "langwise", "--seed", "0",
                   "--set", "strategy.r=8")  # fmt: skip
    (cell,) = cells
    assert (cell.request.strategy, cell.request.seed) == ("langwise", 0)
    assert cell.request.settings == {"strategy": {"r": 8, "alpha": 16}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "a"\ntask = "t2c"\nmax_lenght = 5\n',
         "unknown key 'max_lenght'; did you mean 'max_length'?"),
        ('model = "a"\ntask = "t2c"\nmax-length = 0\n', "key 'max-length': '0' must be at least 1"),
        ('model = "a"\ntask = "t2c"\ndtype = "half"\n', "key 'dtype': 'half' is not one of"),
        ('model = "a"\ntask = "t2c"\nset = 3\n', "key 'set' must hold tables"),
        ('model = "a"\ntask = [\n', "not valid TOML"),
        ('model = "a"\ntask = "t2c"\nmax_length = 64\nmax-length = 128\n',
         "keys 'max_length' and 'max-length' name one option"),
        ('model = "a"\ntask = "t2c"\n[set.lora]\nr = 8\n[set.strategy]\nr = 16\n',
         "key 'set.strategy.r' is given twice (as 'strategy.r')"),
    ],
)  # fmt: skip
def test_config_mistakes_are_one_line_errors_naming_the_key_and_file(
    tmp_path: Path, capsys, text: str, message: str
):
    config = _write(tmp_path / "exp.toml", text)
    assert main(["run", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"harness: error: {config}") and message in line, line


def test_every_run_option_is_a_config_key_and_documented(tmp_path: Path):
    table = build_parser().parse_args(["run"]).option_table
    docs = (Path(__file__).parent.parent / "docs" / "experiments.md").read_text()
    keys = [dest for dest in table.actions if dest != "config"]
    assert {"model", "set", "sweep", "dry_run", "max_length", "preset"} <= set(keys)
    for dest in keys:
        assert f"`{dest}`" in docs, f"config key {dest} is not documented"
    values = {"model": '"m"', "task": '"t2c"', "set": None, "seeds": None}  # seeds: with seed
    for dest in keys:
        action = table.actions[dest]
        if dest in values:
            continue
        if action.nargs == 0:
            values[dest] = "true"
        elif action.choices:
            values[dest] = json.dumps(list(action.choices)[0])
        elif action.type in (int, positive_int):
            values[dest] = "7"
        else:
            values[dest] = '"x"'
    text = "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)
    text += "[set.dataset]\nmax_test = 5\n"
    args = build_parser().parse_args(["run", "--config", str(_write(tmp_path / "all.toml", text))])
    spec = spec_from_args(args)
    assert spec.options["max_length"] == 7 and spec.settings == {"dataset.max_test": 5}


def test_the_written_experiment_reads_back_as_the_same_toml():
    document = {"model": ["minilm"], "limit": 5, "languages": ["python", "c"], "set": {
        "strategy": {"r": [8, 16], "target_modules": [["query", "value"]], "note": 'a "b"\n'}},
        "resolved": {"id": "x", "cells": [{"cell": 1, "settings": {"strategy.r": 8}}],
                     "skipped": []}}  # fmt: skip
    assert tomllib.loads(dumps_toml(document)) == document


# --- running matrices -----------------------------------------------------------------------


class NoneTwin(Strategy):
    """A second strategy that scores with the base model unchanged."""

    name = "none-twin"
    task_kinds = ("retrieval",)
    changes_encoder = False


class CompletionOnly(Strategy):
    name = "completion-only"
    task_kinds = ("completion",)


@pytest.fixture
def test_strategies():
    registry = plugins().strategies
    saved = registry.snapshot()
    added = {"none-twin": NoneTwin, "completion-only": CompletionOnly}
    for name, target in added.items():
        registry.register(name, target, "a test strategy", plugin="tests")
    yield
    registry.restore(saved)


@pytest.fixture
def common(tiny_bert: Path, code_tree: Path, tmp_path: Path) -> list[str]:
    return [
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
        "--device", "cpu", "--bootstrap", "200",
        "--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0",
    ]  # fmt: skip


def _pairs(cache: Path, language: str) -> list[dict]:
    (path,) = cache.glob(f"local/*/{language}/test.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def encode_spy(monkeypatch):
    """Every text the tiny BERT encodes, by role, and whether a LoRA adapter was on it."""
    calls: list[tuple[bool, str, str]] = []
    built: list[str] = []
    original_encode, original_init = hf_encoder.HFEncoder.encode, hf_encoder.HFEncoder.__init__

    def encode(self, texts, *, role="code", description="encoding"):
        adapted = type(self.model).__name__.startswith("Peft")
        calls.extend((adapted, role, text) for text in texts)
        return original_encode(self, texts, role=role, description=description)

    def init(self, reference, *args, **kwargs):
        built.append(reference)
        original_init(self, reference, *args, **kwargs)

    monkeypatch.setattr(hf_encoder.HFEncoder, "encode", encode)
    monkeypatch.setattr(hf_encoder.HFEncoder, "__init__", init)
    return calls, built


class CountingEncoder:
    """Embeds a text as (its length, 1) and counts what it is asked to encode."""

    dim = 2
    info = {"model": "counting"}

    def __init__(self) -> None:
        self.seen: Counter = Counter()

    def encode(self, texts, *, role="code", description="encoding"):
        self.seen.update((role, text) for text in texts)
        return np.array([[len(text), 1.0] for text in texts], dtype=np.float32)


def test_memoized_encoder_encodes_each_text_once_and_keeps_the_order():
    base, memo = CountingEncoder(), {}
    first = MemoizedEncoder(base, memo).encode(["a", "bb", "a"], role="query")
    second = MemoizedEncoder(base, memo).encode(["bb", "ccc"], role="query")
    as_code = MemoizedEncoder(base, memo).encode(["a"], role="code")
    assert first.tolist() == [[1, 1], [2, 1], [1, 1]]
    assert second.tolist() == [[2, 1], [3, 1]] and as_code.tolist() == [[1, 1]]
    assert base.seen == Counter({("query", "a"): 1, ("query", "bb"): 1, ("query", "ccc"): 1,
                                 ("code", "a"): 1})  # fmt: skip
    assert MemoizedEncoder(base, memo).info == {"model": "counting"}
    assert MemoizedEncoder(base, memo).encode([]).shape == (0, 2)


def test_only_a_base_model_left_unchanged_shares_its_embeddings():
    sharing, base = SharedWork(), CountingEncoder()
    sharing.models["key"] = base
    sharing._key_of[id(base)] = "key"
    unchanged = type("Unchanged", (), {"changes_encoder": False})()
    changes = type("Changes", (), {"changes_encoder": True})()
    assert isinstance(sharing.scoring_model(base, base, unchanged), MemoizedEncoder)
    assert sharing.scoring_model(base, base, changes) is base
    adapted = CountingEncoder()
    assert sharing.scoring_model(adapted, base, unchanged) is adapted  # not the base itself
    sharing.release("key")
    assert sharing.models == {} and sharing.memos == {}


def test_a_matrix_skips_invalid_cells_runs_equal_cells_once_and_ends_with_its_leaderboard(
    common: list[str], tmp_path: Path, capsys, test_strategies
):
    code = main([*common, "--strategy", "none,completion-only,taskwise",
                 "--set", "lora.r=2,4", *TRAIN])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    reason = "skipped: strategy 'completion-only' does not apply to task 't2c'"
    assert f"completion-only) {reason}" in err
    assert err.count("skipped: strategy 'completion-only'") == 2  # cells 3 and 4
    assert "cell 2 (" in err and "has the configuration of cell 1: run once" in err
    runs = {(p.parent.name, p.stem) for p in find_results(tmp_path / "results")}
    folders = {folder for folder, _ in runs}
    assert {lang for _, lang in runs} == {"c", "python"} and len(runs) == 6
    # each folder names everything its run changes from a plain one (harness.identity)
    assert sorted(f.split("@")[0] for f in folders) == ["none", "taskwise", "taskwise"]
    assert {"_r_2_" in f for f in folders if "taskwise" in f} == {True, False}
    assert all("max_steps_2" in f for f in folders if "taskwise" in f)
    assert err.count("cell 1/3: ") == 1 and "cell 3/3 done" in err

    result = next(r for r in map(read_result, (tmp_path / "results").rglob("python.json"))
                  if r.config.get("variant", {}).get("label") == "r=4")  # fmt: skip
    assert result.strategy == "taskwise" and result.config["strategy"]["settings"]["r"] == 4
    assert result.config["variant"] == {"label": "r=4", "settings": {"strategy.r": 4}}
    experiment = result.config["experiment"]
    saved = tmp_path / "results" / "_experiments" / f"{experiment}.toml"
    document = tomllib.loads(saved.read_text())
    assert document["strategy"] == ["none", "completion-only", "taskwise"]
    assert document["set"]["strategy"]["r"] == [2, 4]
    cells = document["resolved"]["cells"]
    assert [(c["cell"], c["strategy"], c["label"]) for c in cells] == [
        (1, "none", ""), (5, "taskwise", "r=2"), (6, "taskwise", "r=4")]  # fmt: skip
    assert [c["cell"] for c in document["resolved"]["skipped"]] == [3, 4]
    assert document["resolved"]["same_configuration"][0] | {"settings": None} == {
        "cell": 2, "model": result.model, "strategy": "none", "task": "t2c",
        "settings": None, "same_as": 1}  # fmt: skip
    board = (saved.with_suffix(".md")).read_text()
    assert board in out
    rows = [line.split("|")[2].strip() for line in board.splitlines() if "| hf:" in line]
    assert rows == ["none", "taskwise r=2", "taskwise r=4"]
    assert f"harness run --config {saved}" in board

    # the same experiment from its saved file: the same id, nothing recomputed
    assert main(["run", "--config", str(saved), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["experiment"] == experiment
    ran = [c for c in again["cells"] if "results" in c]
    assert len(ran) == 3 and all(c["status"] == "stored" for c in ran)

    # the store's own leaderboard shows the variants, with commands that remake them
    assert main(["leaderboard", "--task", "t2c", "--results", str(tmp_path / "results")]) == 0
    store_board = capsys.readouterr().out
    assert "| taskwise r=2 |" in store_board and "--set strategy.r=2" in store_board


def test_unknown_names_are_fatal_before_anything_runs(common: list[str], tmp_path: Path, capsys):
    assert main([*common, "--strategy", "none,nne"]) == 2
    err = capsys.readouterr().err
    assert "unknown strategy 'nne'; did you mean 'none'?" in err
    assert not (tmp_path / "results").exists()


def test_base_encoder_encodes_each_text_once_across_none_like_cells(
    common: list[str], tmp_path: Path, capsys, test_strategies, encode_spy
):
    calls, built = encode_spy
    config = _write(tmp_path / "exp.toml", 'strategy = ["none", "none-twin", "taskwise"]\n'
                    "limit = [6, 12]\n")  # fmt: skip
    assert main([*common, "--config", str(config), *TRAIN]) == 0, capsys.readouterr().err
    assert len(built) == 1  # one base model for the six cells

    base = Counter((role, text) for adapted, role, text in calls if not adapted)
    assert set(base.values()) == {1}  # none x 2 limits + none-twin x 2 limits: once per text
    expected = set()
    for language in ("c", "python"):  # --limit cuts queries; the corpus stays whole
        pairs = _pairs(tmp_path / "cache", language)
        expected |= {("query", pair["docstring"]) for pair in pairs[:12]}
        expected |= {("code", pair["code"]) for pair in pairs}
    assert set(base) == expected
    adapted = Counter((role, text) for was_adapted, role, text in calls if was_adapted)
    corpus = sum(len(_pairs(tmp_path / "cache", language)) for language in ("c", "python"))
    # taskwise encodes with its own adapter: one adapter for both limits (the limit is not
    # what it learns from), so its embeddings are cached across them too
    assert set(adapted.values()) == {1}
    assert sum(adapted.values()) == 2 * 12 + corpus

    none = next((tmp_path / "results").rglob("none@*limit_12*/python.json"))
    twin = next((tmp_path / "results").rglob("none-twin@*limit_12*/python.json"))
    assert read_examples(none) == read_examples(twin)


def test_an_adapter_trained_for_one_cell_is_reused_by_cells_with_the_same_key(
    common: list[str], tmp_path: Path, capsys
):
    config = _write(tmp_path / "exp.toml", 'strategy = "taskwise"\nbootstrap = [100, 200]\n')
    at = common.index("--bootstrap")
    flags = common[:at] + common[at + 2 :]  # the file's two values, not the flag's one
    assert main([*flags, "--config", str(config), *TRAIN]) == 0
    err = capsys.readouterr().err
    assert err.count("adapter task: 2 steps") == 1 and err.count("not retrained") == 1
    keys = {read_result(p).config["strategy"]["adapter_keys"]["task"]
            for p in find_results(tmp_path / "results")}  # fmt: skip
    (key,) = keys
    stored = [p.name for p in (tmp_path / "cache" / "adapters").iterdir()]
    assert [name for name in stored if not name.startswith(".")] == [key]


def test_dry_run_lists_cells_cache_and_work_without_loading_a_model(
    common: list[str], tmp_path: Path, capsys, encode_spy
):
    calls, built = encode_spy
    matrix = [*common, "--strategy", "none,taskwise", "--set", "lora.r=2,4", *TRAIN]
    assert main([*matrix, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert built == [] and calls == []
    n_texts = sum(2 * len(_pairs(tmp_path / "cache", lang)) for lang in ("c", "python"))
    by_cell = {c["cell"]: c for c in plan["cells"]}
    assert by_cell[2]["status"] == "same_as" and by_cell[2]["same_as"] == 1
    assert [by_cell[n]["texts_to_encode"] for n in (1, 3, 4)] == [n_texts] * 3
    assert [by_cell[n]["training_steps"] for n in (1, 3, 4)] == [0, 2, 2]
    assert not any(a["cached"] for n in (3, 4) for a in by_cell[n]["adapters"])
    assert not (tmp_path / "results").exists()

    assert main([*common, "--strategy", "taskwise", "--set", "lora.r=2", *TRAIN]) == 0
    capsys.readouterr()
    assert main([*matrix, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    # the single run has the identity of the r=2 cell: its results are the cell's, stored
    assert "r=2        2/2 stored" in listing
    assert "0/1 cached" in listing  # r=4's adapter
    assert f"work left: encode {2 * n_texts:,} texts, train 2 steps" in listing


def test_a_dry_run_of_rc_says_that_it_mined_and_loaded_the_dataset(tmp_path: Path, capsys):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_a.py").write_text("def test_a():\n    assert 1 + 1 == 2\n")
    cache = tmp_path / "cache"
    assert main(["run", "--model", "tiny-code-lm", "--task", "rc", "--data-dir", str(repo),
                 "--results", str(tmp_path / "results"), "--cache-dir", str(cache),
                 "--set", "dataset.min_per_repo=1", "--dry-run"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    # planning mined the repository (rc's partitions and result configs come from the data)
    (mined,) = [p for p in (cache / "local-rc").iterdir() if not p.name.startswith(".")]
    assert (mined / "meta.json").is_file()
    assert "nothing was loaded" not in out
    # the one assertion is an example to generate, not a text to encode
    assert "work left: encode 0 texts, score 1 examples, train 0 steps" in out
    assert out.count("score 1 examples") == 2  # the cell's row and the total
    assert out.strip().splitlines()[-1] == (
        f"--dry-run: loaded the dataset rc/local (cache {mined}) to plan; "
        "built no model, trained and scored nothing"
    )
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_an_interrupted_matrix_resumes_with_the_cells_not_complete(
    common: list[str], tmp_path: Path, capsys
):
    train = ["--set", "lora.batch_size=4", "--set", "lora.max_steps=12",
             "--set", "lora.max_length=32", "--set", "lora.checkpoint_every=4"]  # fmt: skip
    matrix = [*common, "--strategy", "none,taskwise", "--set", "lora.r=2,4", *train]
    results, reference = tmp_path / "results", tmp_path / "reference"
    # the uninterrupted run first; its adapters are then removed so the killed run trains anew
    assert main([a.replace(str(results), str(reference)) for a in matrix]) == 0
    shutil.rmtree(tmp_path / "cache" / "adapters")
    shutil.rmtree(tmp_path / "cache" / "embeddings", ignore_errors=True)  # computed anew too
    capsys.readouterr()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "harness", *matrix], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (results.exists() and find_results(results)) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in find_results(results)}
    assert kept and len(kept) < 6  # killed after the first cell's first result, mid-matrix

    assert main(matrix) == 0
    err = capsys.readouterr().err
    for path in kept:  # complete results of the killed run are kept, not recomputed
        assert (path.stat().st_mtime_ns, path.read_bytes()) == kept[path]
        assert f"complete in {path}, skipped" in err
    assert len(find_results(results)) == 6
    assert len(re.findall(r"adapter task: \d+ steps in", err)) == 2  # both trained now
    assert "not retrained" not in err

    for path in find_results(results):
        twin = reference / path.relative_to(results)
        a, b = json.loads(path.read_text()), json.loads(twin.read_text())
        for result in (a, b):  # what differs between any two runs: timings and the history
            del result["timings"], result["created"], result["config"]["experiment"]
            training = result["config"]["encoder_info"].get("adapter_training", {})
            training.pop("seconds", None), training.pop("resumed_from", None)
            for cost in result["config"]["encoder_info"].get("one_off", []):
                cost.pop("seconds", None)  # the same training's seconds, as one-off cost
        assert a == b, path
        assert read_examples(path) == read_examples(twin)


def test_bars_inside_the_overall_bar_join_it_below_and_leave_when_done(monkeypatch):
    import io

    from rich.console import Console

    from harness import progress

    screen = io.StringIO()
    monkeypatch.setattr(progress, "_disabled", lambda: False)
    monkeypatch.setattr(progress, "_console", Console(file=screen, force_terminal=True, width=120))
    with progress.overall_bar("matrix abc", total=3) as update:
        shared = progress._overall
        assert shared is not None
        with progress.progress_bar("encoding corpus", total=4) as advance:
            advance(4)
            assert [t.description for t in shared.tasks] == ["matrix abc", "encoding corpus"]
        assert [t.description for t in shared.tasks] == ["matrix abc"]
        update(1, status="cells", eta="~2 min")
        (task,) = shared.tasks
        assert (task.completed, task.fields["eta"]) == (1, "~2 min")
    assert progress._overall is None
    assert "matrix abc" in screen.getvalue() and "~2 min" in screen.getvalue()
