"""LoRACode's loss per task: the `paper` preset's temperature depends on the task.

LoRACode (arXiv 2503.05315) trains text-to-code with InfoNCE over cosines scaled by
1/0.2 and code-to-code on the unscaled cosines (temperature 1). The strategy reads the task
from its card, so `--preset paper` gives each task its own loss, an explicit
``--set strategy.temperature`` still wins, and the adapters are cached apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import RetrievalDataset, RetrievalPartition, RetrievalSplit, TrainPair
from harness.plugin_manager import plugins
from harness.plugins.lora.config import settings_from
from harness.plugins.lora.strategies import TaskWise
from harness.strategy import StrategyContext


def _dataset() -> RetrievalDataset:
    pairs = [
        TrainPair(query=f"q{i}", positive=f"def f{i}(): pass", group=f"g{i}") for i in range(4)
    ]
    split = RetrievalSplit(queries={"q0": "q0"}, corpus={"c0": "def f0(): pass"},
                           qrels={"q0": {"c0": 1}})  # fmt: skip
    partition = RetrievalPartition(name="python", eval=split, train=pairs)
    return RetrievalDataset(name="toy", partitions={"python": partition}, meta={"version": 1})


def _taskwise(task: str, tmp_path: Path, **options: str) -> TaskWise:
    card = plugins().tasks.get(task).load()
    context = StrategyContext(task=card, cache_dir=tmp_path, options={"preset": "paper",
                              **options}, model="hf:tiny")  # fmt: skip
    return TaskWise(context)


@pytest.mark.parametrize(("task", "temperature"), [("t2c", 0.2), ("c2c", 1.0)])
def test_the_paper_preset_takes_loracodes_temperature_for_the_task(task, temperature, tmp_path):
    assert settings_from({"preset": "paper"}, "retrieval", task).temperature == temperature
    strategy = _taskwise(task, tmp_path)
    assert strategy.settings.temperature == temperature
    assert strategy.config()["settings"]["temperature"] == temperature
    # the preset's other values are the same for both tasks
    assert (strategy.settings.r, strategy.settings.alpha, strategy.settings.lr) == (64, 128, 5e-5)


def test_an_explicit_temperature_wins_over_the_tasks_preset(tmp_path):
    assert (
        settings_from({"preset": "paper", "temperature": "0.5"}, "retrieval", "c2c").temperature
        == 0.5
    )
    assert _taskwise("c2c", tmp_path, temperature="0.2").settings.temperature == 0.2
    assert _taskwise("t2c", tmp_path, temperature="1").settings.temperature == 1.0
    # quick has no per-task values
    assert settings_from({}, "retrieval", "c2c").temperature == settings_from({}).temperature


def test_the_adapter_key_follows_the_temperature(tmp_path):
    dataset = _dataset()

    def key(task: str, **options: str) -> str:
        return _taskwise(task, tmp_path, **options).config(dataset)["adapter_keys"]["task"]

    # c2c under `paper` trains at temperature 1: not the adapter a temperature of 0.2 gives
    assert key("c2c") != key("c2c", temperature="0.2")
    assert key("c2c") == key("c2c", temperature="1.0")
    assert key("t2c") == key("t2c", temperature="0.2")
