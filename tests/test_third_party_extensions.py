"""A third-party plugin extends `harness run`, the leaderboard and the cost view without
any change to harness/: a strategy with a preset, its own CLI flag, a one-off cost kind of
its own, a control row and a metric the completion task kind computes, installed as a
distribution with an entry point (as tests/test_plugins.py installs its toy plugins) and
run as a user runs it.

The toy strategy answers every assertion of the mined repositories (they all expect 42)
when its preset is ``strong`` and misses them under ``weak``; its `--toy-scale` flag
sets the seconds its one-off fitting reports; its control ``blind`` (a view that
answers 0, scored through the run's ``context.evaluate``) scores 0 on every example.
Every expected number follows from these rules, by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOY_PLUGIN = '''
from types import SimpleNamespace

from harness.extensions import RunFlag
from harness.hookspecs import hookimpl
from harness.options import Option
from harness.strategy import Strategy


class ToyLM:
    """A causal LM that always answers 0."""

    kind = "causal-lm"
    name = "toy-lm"
    info = {"device": "cpu"}
    answer = "0"

    def generate(self, prompts, **settings):
        return [SimpleNamespace(text=self.answer, prompt_tokens=len(p.split()), new_tokens=1,
                                seconds=0.001) for p in prompts]


def build(argument, options):
    return ToyLM()


class ToyView(ToyLM):
    def __init__(self, answer, info):
        self.answer, self.info = answer, info


class ToyAdapt(Strategy):
    name = "toy-adapt"
    task_kinds = ("completion",)

    def config(self, dataset=None):
        return {"name": self.name, **self.context.options}

    def model_for(self, model, partition):
        options = self.context.options
        # the control: a view that always answers 0, scored by the run's own callback
        blind = self.context.evaluate(ToyView("0", {}), partition.eval).per_example
        info = {
            "device": "cpu",
            "toy_fitting": {"seconds": 5.0 * int(options.get("toy_scale", 1)), "key": "fit"},
            "controls": {"metric": "exact_match", "per_example": {
                "ids": [row["id"] for row in blind],
                "blind": [row["exact_match"] for row in blind],
            }},
        }
        return ToyView("42" if options.get("preset") == "strong" else "0", info)


@hookimpl
def harness_register_encoders(register):
    register("toy-lm", build, "a causal LM from a third-party plugin", kind="causal-lm")


@hookimpl
def harness_register_strategies(register):
    register("toy-adapt", ToyAdapt, "a strategy from a third-party plugin",
             options=(Option("preset", "weak", "weak or strong"),
                      Option("toy_scale", 1, "seconds of fitting, in fives")),
             cost_kinds=("toy_fitting",))


def answered_42(prediction, target):
    return float(prediction == "42")


@hookimpl
def harness_register_metrics(register):
    register("answered_42", answered_42, "1 when the completion is 42", task_kind="completion")


@hookimpl
def harness_register_run_flags(register):
    register("preset", RunFlag("strategy", sweep=True), "the toy's preset: weak or strong")
    register("toy-scale", RunFlag("strategy", metavar="N"), "the toy's fitting cost, in fives")
'''

REPOS = ("alpha", "beta", "gamma", "delta")
N_ASSERTS = 6
BUILT_INS = "builtin-metrics,task-cards,completion,local-dataset,strategy-none"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("third_party")
    site = base / "site"
    site.mkdir()
    (site / "toy_extensions.py").write_text(textwrap.dedent(TOY_PLUGIN))
    info = site / "toy_extensions-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-extensions\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[harness]\ntoy-extensions = toy_extensions\n")
    repos = base / "repos"
    for repo in REPOS:
        (repo_dir := repos / repo / "src").mkdir(parents=True)
        (repo_dir / "core.py").write_text(f"def value(x):\n    return 42  # {repo}\n")
        tests = [f"def test_{i}():\n    assert value({i}) == 42\n\n" for i in range(N_ASSERTS)]
        (repos / repo / "tests").mkdir()
        (repos / repo / "tests" / "test_core.py").write_text(
            "from core import value\n\n" + "".join(tests)
        )
    return {"site": site, "repos": repos, "results": base / "results", "cache": base / "cache"}


def _harness(setup: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    environ["PYTHONPATH"] = os.pathsep.join([str(setup["site"]), environ.get("PYTHONPATH", "")])
    # the built-ins a completion run needs and the toy: no adapter plugin gives --preset here
    environ["HARNESS_LOAD_PLUGINS"] = f"{BUILT_INS},toy-extensions"
    environ["HARNESS_STRICT_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=environ, timeout=300)  # fmt: skip


def _run(setup: dict[str, Path], *extra: str) -> None:
    done = _harness(
        setup, "run", "--model", "toy-lm", "--task", "rc", "--data-dir", str(setup["repos"]),
        "--results", str(setup["results"]), "--cache-dir", str(setup["cache"]),
        "--set", "dataset.min_per_repo=1", "--set", "dataset.layout=many", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def store(setup: dict[str, Path]) -> Path:
    _run(setup, "--strategy", "none")
    _run(setup, "--strategy", "toy-adapt", "--preset", "weak,strong", "--toy-scale", "3")
    return setup["results"]


def _results(store: Path, strategy: str) -> dict[str, dict]:
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted(store.rglob("*.json"))
        if path.parent.name.startswith(strategy)
    }


def test_the_preset_flag_gives_one_cell_per_value_and_reaches_the_strategy(store: Path):
    results = _results(store, "toy-adapt")
    assert len(results) == 2  # weak and strong, one cr_test repository each
    by_preset = {r["config"]["strategy"]["preset"]: r for r in results.values()}
    assert by_preset["strong"]["metrics"]["exact_match"]["value"] == 1.0  # every answer is 42
    assert by_preset["weak"]["metrics"]["exact_match"]["value"] == 0.0


def test_a_metric_registered_for_the_task_kind_is_computed_per_example(store: Path):
    for path in store.rglob("*.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        answered = [1.0 if row["prediction"] == "42" else 0.0 for row in rows]
        assert [row["answered_42"] for row in rows] == answered


def test_the_plugin_flag_is_a_strategy_setting(store: Path):
    for result in _results(store, "toy-adapt").values():
        assert result["config"]["strategy"]["toy_scale"] == "3"


def test_the_one_off_cost_kind_reaches_the_timings_and_the_cost_view(store, setup):
    for result in _results(store, "toy-adapt").values():
        assert result["timings"]["toy_fitting_s"] == result["timings"]["one_off_s"] == 15.0
    shown = _harness(setup, "leaderboard", "--task", "rc", "--results", str(store), "--cost",
                     "--format", "json")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["rows"]
    toy = [r for r in rows if r["strategy"].startswith("toy-adapt")]
    assert len(toy) == 2 and all(r["one_off_s"] == 15.0 for r in toy)
    assert all(r["baseline"] == "none" for r in toy)  # none ranks itself as a baseline


def test_the_control_gets_its_row_in_the_leaderboard(store, setup):
    shown = _harness(setup, "leaderboard", "--task", "rc", "--results", str(store))
    assert shown.returncode == 0, shown.stderr
    control_rows = [line for line in shown.stdout.splitlines() if ": blind" in line]
    assert len(control_rows) == 2  # one under each toy row
    for result in _results(store, "toy-adapt").values():  # blind answers 0: none is right
        blind = result["config"]["encoder_info"]["controls"]["per_example"]["blind"]
        assert blind == [0.0] * N_ASSERTS
    # the regenerate commands give the plugin's flags back as flags
    commands = [line for line in shown.stdout.splitlines() if "--strategy toy-adapt" in line]
    assert len(commands) == 2 and all("--toy-scale 3" in line for line in commands)
    assert sorted(line.count("--preset ") for line in commands) == [1, 1]
