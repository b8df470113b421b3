"""LoRA strategies on a tiny random BERT: training, caching, resume, export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import RetrievalDataset, RetrievalPartition, RetrievalSplit, TrainPair
from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.lora import trainer as trainer_module
from harness.plugins.lora.config import PRESETS, settings_from
from harness.plugins.lora.contrastive import info_nce
from harness.plugins.lora.store import AdapterStore
from harness.plugins.lora.strategies import LangWise, TaskWise
from harness.plugins.lora.trainer import train_lora
from harness.strategy import StrategyContext
from harness.taskcard import TaskCard

CARD = TaskCard(
    name="t2c", kind="retrieval", description="d", default_dataset="local",
    metrics=("mrr",), main_score="mrr",
)  # fmt: skip
FAST = {"r": 4, "alpha": 8, "batch_size": 8, "max_steps": 12, "lr": 1e-2, "warmup_steps": 0,
        "max_length": 32, "checkpoint_every": 4, "dropout": 0.1, "epochs": 3}  # fmt: skip


def toy_pairs(prefix: str, n: int = 48) -> list[TrainPair]:
    """Queries name a number in words; the code holds it in digits: learnable, not given."""
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven"]
    return [
        TrainPair(
            query=f"{prefix} {words[i % 8]} {words[(i // 8) % 8]}",
            positive=f"def {prefix}(): return {i % 8} * {(i // 8) % 8}",
            group=f"{prefix}/{i}",
        )
        for i in range(n)
    ]


def toy_dataset() -> RetrievalDataset:
    partitions = {}
    for name in ("go", "python"):
        pairs = toy_pairs(name)
        split = RetrievalSplit(
            queries={f"{name}{i}": p.query for i, p in enumerate(pairs[:8])},
            corpus={f"{name}{i}": p.positive for i, p in enumerate(pairs[:8])},
            qrels={f"{name}{i}": {f"{name}{i}": 1} for i in range(8)},
        )
        partitions[name] = RetrievalPartition(name=name, eval=split, train=pairs)
    return RetrievalDataset(name="toy", partitions=partitions, meta={"version": 1})


@pytest.fixture(scope="module")
def encoder(tiny_bert: Path) -> HFEncoder:
    return HFEncoder(str(tiny_bert), EncoderOptions(device="cpu"), name="tiny")


def context(tmp_path: Path, **options) -> StrategyContext:
    return StrategyContext(
        task=CARD, cache_dir=tmp_path, options={**FAST, **options}, model="hf:tiny"
    )


def test_presets_and_overrides():
    paper = PRESETS["paper"]
    assert (paper.r, paper.alpha, paper.dropout, paper.lr) == (64, 128, 0.1, 5e-5)
    assert (paper.warmup_steps, paper.batch_size, paper.epochs, paper.max_length) == (
        1000, 16, 1, 512,
    )  # fmt: skip
    assert paper.temperature == 0.2
    tuned = settings_from({"preset": "paper", "r": "32", "symmetric": "true"})
    assert (tuned.r, tuned.alpha, tuned.symmetric) == (32, 128, True)
    with pytest.raises(HarnessError, match="unknown strategy option 'rank'"):
        settings_from({"rank": 8})
    with pytest.raises(HarnessError, match="unknown LoRA preset 'fast'"):
        settings_from({"preset": "fast"})
    with pytest.raises(HarnessError, match="strategy.dropout"):
        settings_from({"dropout": 1.5})


def test_info_nce_matches_a_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # Row 0 logits (T=0.5): [1.2, 0.0]; row 1: [1.6, 2.0].
    row0 = -1.2 + math.log(math.exp(1.2) + math.exp(0.0))
    row1 = -2.0 + math.log(math.exp(1.6) + math.exp(2.0))
    assert float(info_nce(q, c, temperature=0.5)) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # Masking the two as one group leaves each only its own positive: loss 0.
    assert float(info_nce(q, c, temperature=0.5, groups=["p", "p"])) == pytest.approx(0.0)
    # Symmetric: the mean of both directions (columns: [1.2, 1.6] and [0.0, 2.0]).
    col0 = -1.2 + math.log(math.exp(1.2) + math.exp(1.6))
    col1 = -2.0 + math.log(math.exp(0.0) + math.exp(2.0))
    symmetric = ((row0 + row1) / 2 + (col0 + col1) / 2) / 2
    assert float(info_nce(q, c, temperature=0.5, symmetric=True)) == pytest.approx(symmetric)


def test_length_groups_pad_fewer_tokens_and_cover_every_text():
    lengths = [3, 120, 4, 118, 5, 119, 6, 117]
    groups = trainer_module.length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert groups == [[0, 2, 4, 6], [7, 3, 5, 1]]  # by hand: short ones, then long ones
    padded = sum(len(g) * max(lengths[i] for i in g) for g in groups)
    assert padded == 4 * 6 + 4 * 120 < len(lengths) * max(lengths)
    assert trainer_module.length_groups([7] * 5) == [[0, 1, 2, 3, 4]]
    assert trainer_module.length_groups([]) == [[]]


def test_grouped_embeddings_and_gradients_equal_one_text_at_a_time(encoder):
    from peft import LoraConfig, get_peft_model

    texts = ["a", "def f(x):\n    return x" * 12, "sort", "x " * 60, "read a file", "b"]
    assert len(trainer_module.length_groups(
        [len(t) for t in encoder.tokenizer(texts)["input_ids"]])) > 1  # fmt: skip
    config = LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=["query", "value"])
    model = get_peft_model(encoder.model, config)
    model.eval()  # no dropout: the two ways must agree to rounding
    for module in model.modules():
        if hasattr(module, "lora_B"):
            for b in module.lora_B.values():
                torch.nn.init.normal_(b.weight, std=0.1)
    weight = torch.linspace(-1, 1, encoder.model.config.hidden_size)
    grouped = trainer_module.embed(model, encoder, texts, 64)
    (grouped @ weight).sum().backward()
    grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    one_by_one = torch.cat([trainer_module.embed(model, encoder, [t], 64) for t in texts])
    (one_by_one @ weight).sum().backward()
    torch.testing.assert_close(grouped, one_by_one, rtol=0, atol=1e-5)
    for a, p in zip(grads, (p for p in model.parameters() if p.requires_grad), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-5)
    model.unload()


def test_loss_falls_on_a_learnable_toy_set(encoder, tmp_path):
    # Number words -> digits: the random model cannot match them, a trained one can.
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven"]
    pairs = [TrainPair(f"{words[i % 8]} {words[i // 8]}", f"{i % 8} {i // 8}") for i in range(64)]
    options = {**FAST, "r": 8, "alpha": 16, "lr": 5e-2, "max_steps": 40, "epochs": 5,
               "dropout": 0.0}  # fmt: skip
    _, report = train_lora(encoder, pairs, settings_from(options), tmp_path / "w")
    assert report.steps == 40 and len(report.losses) == 40
    assert np.mean(report.losses[:5]) > 0.9 * math.log(8)  # chance among 8 in a batch
    assert np.mean(report.losses[-5:]) < 0.7 * np.mean(report.losses[:5])


def test_trainable_share_is_four_times_layers_rank_hidden(encoder, tmp_path):
    settings = settings_from({**FAST, "max_steps": 1})
    _, report = train_lora(encoder, toy_pairs("f"), settings, tmp_path / "w")
    layers, hidden, rank = 2, 32, 4
    assert report.trainable == 2 * layers * rank * (hidden + hidden)  # A and B on query, value
    base = sum(p.numel() for p in encoder.model.parameters())
    assert report.total == base + report.trainable


@pytest.mark.parametrize("native", [True, False])
def test_settings_left_at_precision_auto_train_as_settings_from_resolves_them(
    encoder, tmp_path, monkeypatch, native
):
    # settings built directly keep precision "auto" until the trainer: it must train in
    # bf16 where bf16 is native and in fp32 elsewhere, not in fp32 everywhere
    from dataclasses import replace

    from harness import hardware

    monkeypatch.setattr(hardware, "native_bf16", lambda device="auto", cpuinfo=None: native)
    base = {**FAST, "max_steps": 3, "dropout": 0.0}

    def adapter(precision: str, name: str) -> dict[str, torch.Tensor]:
        settings = replace(settings_from({**base, "precision": "fp32"}), precision=precision)
        model, _ = train_lora(encoder, toy_pairs("f"), settings, tmp_path / name)
        return {k: v.clone() for k, v in model.state_dict().items() if "lora_B" in k}

    auto, bf16, fp32 = adapter("auto", "auto"), adapter("bf16", "bf16"), adapter("fp32", "fp32")
    same, other = (bf16, fp32) if native else (fp32, bf16)
    assert all(torch.equal(auto[k], same[k]) for k in auto)
    assert any(not torch.equal(auto[k], other[k]) for k in auto)


def test_a_killed_training_resumes_to_the_same_adapter(encoder, tmp_path):
    settings = settings_from(FAST)
    whole, _ = train_lora(encoder, toy_pairs("f"), settings, tmp_path / "whole")

    def crash(step: int) -> None:
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(encoder, toy_pairs("f"), settings, tmp_path / "killed", on_step=crash)
    resumed, report = train_lora(encoder, toy_pairs("f"), settings, tmp_path / "killed")
    assert report.resumed_from == 4  # the last checkpoint before the crash
    expected = {k: v for k, v in whole.state_dict().items() if "lora_" in k}
    got = {k: v for k, v in resumed.state_dict().items() if "lora_" in k}
    assert expected.keys() == got.keys() and expected
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6)


def test_langwise_trains_one_adapter_per_partition_and_uses_the_right_one(encoder, tmp_path):
    dataset = toy_dataset()
    strategy = LangWise(context(tmp_path))
    config = strategy.config(dataset)
    assert set(config["adapter_keys"]) == {"go", "python"}
    strategy.prepare(encoder, dataset)
    store = AdapterStore(tmp_path)
    for name, key in config["adapter_keys"].items():
        view = strategy.model_for(encoder, dataset.partitions[name])
        assert view.info["adapter"] == key
        meta = store.get(key).meta
        assert meta["identity"]["partitions"] == [name]
        assert meta["training"]["trainable_share"] == pytest.approx(
            1024 / (1024 + meta["training"]["total_parameters"] - 1024)
        )
    go = strategy.model_for(encoder, dataset.partitions["go"]).encode(["go one two"])
    py = strategy.model_for(encoder, dataset.partitions["python"]).encode(["go one two"])
    assert not np.allclose(go, py)
    base = encoder.encode(["go one two"])
    assert not np.allclose(base, go)  # the base encoder itself is left unchanged
    np.testing.assert_allclose(encoder.encode(["go one two"]), base)


def test_taskwise_uses_one_adapter_everywhere(encoder, tmp_path):
    dataset = toy_dataset()
    strategy = TaskWise(context(tmp_path))
    keys = strategy.config(dataset)["adapter_keys"]
    assert list(keys) == ["task"]
    strategy.prepare(encoder, dataset)
    (meta,) = [a.meta for a in AdapterStore(tmp_path).list()]
    assert meta["identity"]["partitions"] == ["go", "python"]
    assert meta["training"]["n_pairs"] == 96  # both partitions, balanced
    views = [strategy.model_for(encoder, p) for p in dataset.partitions.values()]
    assert {v.info["adapter"] for v in views} == {keys["task"]}


def test_a_cached_adapter_is_loaded_not_retrained(encoder, tmp_path, monkeypatch):
    dataset = toy_dataset()
    first = LangWise(context(tmp_path))
    first.prepare(encoder, dataset)
    trained = first.model_for(encoder, dataset.partitions["go"]).encode(["go two"])

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(trainer_module, "train_lora", no_training)
    again = LangWise(context(tmp_path))
    again.prepare(encoder, dataset)
    np.testing.assert_allclose(
        again.model_for(encoder, dataset.partitions["go"]).encode(["go two"]), trained, atol=1e-6
    )
    # Another hyperparameter is another key: it would train.
    other = LangWise(context(tmp_path, r=8))
    assert other.config(dataset)["adapter_keys"] != first.config(dataset)["adapter_keys"]


def test_saved_adapter_round_trips_through_peft(encoder, tmp_path, tiny_bert):
    from peft import PeftModel
    from transformers import AutoModel

    dataset = toy_dataset()
    strategy = TaskWise(context(tmp_path))
    strategy.prepare(encoder, dataset)
    view = strategy.model_for(encoder, dataset.partitions["go"])
    (stored,) = AdapterStore(tmp_path).list()
    loaded = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert), str(stored.path))
    loaded.eval()
    texts = ["go one two", "def go(): return 1 * 2"]
    batch = encoder.tokenize(texts)
    with torch.no_grad():
        hidden = loaded(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    by_hand = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    np.testing.assert_allclose(view.encode(texts), by_hand.numpy(), atol=1e-5)


def test_given_adapter_is_used_without_training(encoder, tmp_path, monkeypatch):
    dataset = toy_dataset()
    trained = TaskWise(context(tmp_path / "a"))
    trained.prepare(encoder, dataset)
    (stored,) = AdapterStore(tmp_path / "a").list()
    monkeypatch.setattr(trainer_module, "train_lora", None)
    given = TaskWise(context(tmp_path / "b", adapter=str(stored.path)))
    given.prepare(encoder, dataset)
    np.testing.assert_allclose(
        given.model_for(encoder, dataset.partitions["go"]).encode(["go"]),
        trained.model_for(encoder, dataset.partitions["go"]).encode(["go"]),
        atol=1e-6,
    )
    with pytest.raises(HarnessError, match="no adapter given for partition 'python'"):
        LangWise(context(tmp_path, adapter=f"go={stored.path}")).prepare(encoder, dataset)


def test_an_adapter_for_another_base_model_is_refused(encoder, tmp_path):
    dataset = toy_dataset()
    trained = TaskWise(context(tmp_path))
    trained.prepare(encoder, dataset)
    (stored,) = AdapterStore(tmp_path).list()
    config = stored.path / "adapter_config.json"
    config.write_text(
        config.read_text().replace(str(encoder.info["model"]), "microsoft/codebert-base")
    )
    with pytest.raises(HarnessError, match="trained for 'microsoft/codebert-base'"):
        trained.model_for(encoder, dataset.partitions["go"])


def test_code_to_code_cards_keep_one_program_out_of_its_own_negatives(encoder, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    import harness.tasks
    from harness.taskcard import load_card

    c2c = load_card(Path(harness.tasks.__file__).parent / "c2c.toml")
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "train_lora", spy)
    strategy = TaskWise(StrategyContext(task=c2c, cache_dir=tmp_path, options=FAST, model="m"))
    with pytest.raises(KeyboardInterrupt):
        strategy.prepare(encoder, toy_dataset())
    assert seen["mask_same_group"] is True
    assert CARD.options.get("mask_same_group", False) is False  # t2c keeps file-mates as negatives


def test_an_adapter_hub_id_offline_says_how_to_use_a_local_copy(monkeypatch):
    from harness.plugins.lora.strategies import resolve_adapter

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError) as caught:
        resolve_adapter("someone/loracode-python-adapter")
    assert "could not be fetched" in str(caught.value)
    assert "--adapter /path/to/adapter" in str(caught.value)
    with pytest.raises(HarnessError, match="no such adapter folder"):
        resolve_adapter("./missing/adapter")


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_lora import FAST, toy_pairs
from harness.encoder import EncoderOptions
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.lora.config import settings_from
from harness.plugins.lora.trainer import train_lora

def die(step):
    if step == 7:
        os.kill(os.getpid(), signal.SIGKILL)

encoder = HFEncoder({model!r}, EncoderOptions(device="cpu"), name="tiny")
train_lora(encoder, toy_pairs("f"), settings_from(FAST), Path({workdir!r}), on_step=die)
"""


def test_a_process_killed_with_sigkill_resumes_to_the_same_adapter(encoder, tiny_bert, tmp_path):
    import subprocess
    import sys

    workdir = tmp_path / "killed"
    code = KILLED_RUN.format(tests=str(Path(__file__).parent), model=str(tiny_bert),
                             workdir=str(workdir))  # fmt: skip
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert (workdir / "checkpoint" / "state.json").exists()
    resumed, report = train_lora(encoder, toy_pairs("f"), settings_from(FAST), workdir)
    assert report.resumed_from == 4
    whole, _ = train_lora(encoder, toy_pairs("f"), settings_from(FAST), tmp_path / "whole")
    expected = {k: v for k, v in whole.state_dict().items() if "lora_" in k}
    for name, value in expected.items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-6)


def test_balanced_takes_a_lazy_sequence_of_pairs():
    """A loader may give its train pairs as a lazy sequence (not a list): balancing
    resamples the smaller partition up to the larger one all the same."""
    from harness.data import TrainPair
    from harness.plugins.lora.strategies import _balanced

    class Lazy:  # only what a sequence needs: a length and indexing
        def __init__(self, n: int) -> None:
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i: int) -> TrainPair:
            if not 0 <= i < self.n:
                raise IndexError(i)
            return TrainPair(f"q{i}", f"c{i}")

    out = _balanced({"a": Lazy(2), "b": [TrainPair("x", "y")] * 5}, seed=0)  # type: ignore[dict-item]
    assert len(out) == 10 and sum(p.query.startswith("q") for p in out) == 5
