"""`--seed` seeds training: LoRA and hypernetwork initialisation, dropout and data order.

The run's seed reaches a strategy as ``StrategyContext.seed``; a ``strategy.seed`` given
on its own wins. The seed is part of every trained artifact's key, so two seeds never
share an adapter, and seed 0 keeps the keys (and adapters) it always had.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_lora import CARD, FAST, toy_dataset

from harness.encoder import EncoderOptions
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.lora.store import AdapterStore
from harness.plugins.lora.strategies import LangWise, TaskWise
from harness.strategy import StrategyContext


@pytest.fixture(scope="module")
def encoder(tiny_bert: Path) -> HFEncoder:
    return HFEncoder(str(tiny_bert), EncoderOptions(device="cpu"), name="tiny")


def _taskwise(cache: Path, run_seed: int, **options) -> TaskWise:
    context = StrategyContext(
        task=CARD, cache_dir=cache, seed=run_seed, options={**FAST, **options}, model="hf:tiny"
    )
    return TaskWise(context)


def _weights_hash(strategy: TaskWise, cache: Path) -> str:
    stored = AdapterStore(cache).get(strategy._keys["task"])
    assert stored is not None
    return hashlib.sha256((stored.path / "adapter_model.safetensors").read_bytes()).hexdigest()


def test_the_run_seed_gives_another_adapter_and_another_key(encoder, tmp_path):
    dataset = toy_dataset()  # its data does not depend on the seed: only training does
    trained = {}
    for seed in (0, 1):
        strategy = _taskwise(tmp_path, seed)
        strategy.prepare(encoder, dataset)
        trained[seed] = (strategy._keys["task"], _weights_hash(strategy, tmp_path))
        assert strategy.settings.seed == seed
    assert trained[0][0] != trained[1][0]  # cache keys
    assert trained[0][1] != trained[1][1]  # the trained weights
    assert len(AdapterStore(tmp_path).list()) == 2


def test_seed_zero_keeps_the_key_a_plain_strategy_seed_zero_had(tmp_path):
    dataset = toy_dataset()
    plain = _taskwise(tmp_path, 0).config(dataset)["adapter_keys"]
    explicit = _taskwise(tmp_path, 7, seed=0).config(dataset)["adapter_keys"]
    assert plain == explicit


def test_a_strategy_seed_given_on_its_own_wins_over_the_run_seed(encoder, tmp_path):
    dataset = toy_dataset()
    first, second = _taskwise(tmp_path, 0, seed=5), _taskwise(tmp_path, 1, seed=5)
    assert first.settings.seed == second.settings.seed == 5
    first.prepare(encoder, dataset)
    second.prepare(encoder, dataset)  # a cache hit: the same adapter
    assert first._keys == second._keys
    assert _weights_hash(first, tmp_path) == _weights_hash(second, tmp_path)
    assert len(AdapterStore(tmp_path).list()) == 1


def test_langwise_keys_follow_the_run_seed(tmp_path):
    dataset = toy_dataset()
    keys = []
    for seed in (0, 1):
        context = StrategyContext(task=CARD, cache_dir=tmp_path, seed=seed, options=dict(FAST))
        keys.append(LangWise(context).config(dataset)["adapter_keys"])
    assert keys[0].keys() == keys[1].keys() == {"go", "python"}
    assert all(keys[0][name] != keys[1][name] for name in keys[0])


def test_hypernetwork_seed_and_key_follow_the_run_seed(tmp_path):
    from harness.plugin_manager import plugins
    from tests.synthetic_repos import write_synthetic_repositories

    data = write_synthetic_repositories(tmp_path / "data", n_train=3, n_test=2, per_repo=2)
    card = plugins().tasks.get("rc").load()
    static = plugins().strategies.get("hypernet-static").load()

    def strategy(run_seed: int, **options):
        context = StrategyContext(task=card, cache_dir=tmp_path, seed=run_seed, options=options)
        return static(context)

    assert [strategy(s).settings.seed for s in (0, 3)] == [0, 3]
    assert strategy(3, seed=5).settings.seed == 5
    keys = [strategy(s).config(data)["hypernet_key"] for s in (0, 1)]
    assert keys[0] != keys[1]
    assert (
        strategy(0, seed=5).config(data)["hypernet_key"]
        == strategy(1, seed=5).config(data)["hypernet_key"]
    )
    assert strategy(4, seed=0).config(data)["hypernet_key"] == keys[0]
