"""Packed encoding (plugins/encoders/packed.py): a batch's texts run end to end, no
padded token, each text attending only to itself. Held to each text run alone through
the raw transformers model (no padding at all), for BERT and for RoBERTa (whose
positions start after the padding index), and to the padded path under LoRA."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import each_alone, make_tiny_bert
from transformers import AutoModel, AutoTokenizer, RobertaConfig, RobertaModel

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.encoders.packed import packable, packed_hidden

TEXTS = [
    "def add(a, b):\n    return a + b",
    "x",
    "class Parser:\n    def parse(self, line):\n        return json.loads(line)\n" * 2,
    "return the sum of two numbers",
    "",
    "for item in items:\n    count += 1",
    "def read(path):\n    with open(path) as f:\n        return f.read()",
]


def encoder(path: Path, **extra: Any) -> HFEncoder:
    return HFEncoder(str(path), EncoderOptions(device="cpu", batch_size=4, extra=extra))


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer RoBERTa (pad id 0, so positions start at 1) on the tiny
    BERT's tokenizer."""
    path = make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-roberta-base")
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=130, pad_token_id=0, type_vocab_size=1,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = RobertaModel(config)
    out = tmp_path_factory.mktemp("models") / "tiny-roberta"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "lasttoken"])
def test_packed_bert_equals_each_text_run_alone(tiny_bert: Path, pooling: str) -> None:
    packed = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", batch_size=4, pooling=pooling))
    assert packed.packed
    got = packed.encode(TEXTS)
    want = each_alone(tiny_bert, TEXTS, pooling)
    # the empty text is [CLS] [SEP]: real tokens, so it has an embedding too
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_packed_roberta_counts_positions_from_after_the_padding_index(tiny_roberta: Path) -> None:
    packed = encoder(tiny_roberta)
    assert packed.packed
    want = each_alone(tiny_roberta, TEXTS, "mean")
    np.testing.assert_allclose(packed.encode(TEXTS), want, atol=1e-5)
    # positions from 0 would be another model's embeddings: the offset is what makes it equal
    model = AutoModel.from_pretrained(tiny_roberta).eval()
    ids = AutoTokenizer.from_pretrained(tiny_roberta)(TEXTS[:2])["input_ids"]
    with torch.no_grad():
        hidden, mask = packed_hidden(model, ids, None)
        from_zero = torch.arange(len(ids[0])).unsqueeze(0)
        wrong = model(input_ids=torch.tensor([ids[0]]), position_ids=from_zero).last_hidden_state
    assert mask.tolist()[1] == [1] * len(ids[1]) + [0] * (len(ids[0]) - len(ids[1]))
    assert not torch.allclose(hidden[0], wrong[0], atol=1e-3)


def test_packing_off_and_padding_to_max_length_run_padded_with_the_same_embeddings(
    tiny_bert: Path,
) -> None:
    packed = encoder(tiny_bert)
    off = encoder(tiny_bert, packing="off")
    to_max = encoder(tiny_bert, padding="max_length")
    assert (packed.packed, off.packed, to_max.packed) == (True, False, False)
    np.testing.assert_allclose(packed.encode(TEXTS), off.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(packed.encode(TEXTS), to_max.encode(TEXTS), atol=1e-5)


def test_an_unknown_packing_is_refused(tiny_bert: Path) -> None:
    with pytest.raises(HarnessError, match="packing"):
        encoder(tiny_bert, packing="always")


def test_the_models_own_attention_is_back_after_a_packed_call_even_one_that_fails(
    tiny_bert: Path,
) -> None:
    packed = encoder(tiny_bert)
    own = packed.model.config._attn_implementation
    packed.encode(TEXTS[:3])
    assert packed.model.config._attn_implementation == own
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure inside
        packed_hidden(packed.model, [[10**6]], None)  # an id beyond the vocabulary
    assert packed.model.config._attn_implementation == own
    # and the padded forward (what LoRA training calls) still runs the model's own
    batch = packed.tokenize(TEXTS[:3])
    assert packed.forward(batch).shape == (3, packed.dim)


def test_packable_only_for_bidirectional_absolute_position_bert_family(tiny_bert: Path) -> None:
    model = AutoModel.from_pretrained(tiny_bert)
    assert packable(model)
    model.config.is_decoder = True
    assert not packable(model)
    model.config.is_decoder = False
    model.config.position_embedding_type = "relative_key"
    assert not packable(model)
    model.config.position_embedding_type = "absolute"
    model.config.model_type = "gpt2"
    assert not packable(model)
    assert not packable(object())


def test_packed_under_lora_equals_the_padded_path(tiny_bert: Path) -> None:
    from peft import LoraConfig, get_peft_model

    packed = encoder(tiny_bert)
    torch.manual_seed(0)
    lora = get_peft_model(packed.model, LoraConfig(r=4, target_modules=["query", "value"]))
    for name, weight in lora.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(weight, std=0.5)  # B starts at zero: make the adapter count
    lora.eval()
    packed.model = lora
    padded = replace_model(encoder(tiny_bert, packing="off"), lora)
    plain = encoder(tiny_bert, packing="off").encode(TEXTS)
    got = packed.encode(TEXTS)
    np.testing.assert_allclose(got, padded.encode(TEXTS), atol=1e-5)
    assert np.abs(got - plain).max() > 1e-2  # the adapter changed the embeddings


def replace_model(encoder: HFEncoder, model: Any) -> HFEncoder:
    encoder.model = model
    return encoder


def test_packed_bfloat16_stays_within_the_bf16_bound_of_float32(tiny_bert: Path) -> None:
    exact = encoder(tiny_bert).encode(TEXTS)
    options = EncoderOptions(device="cpu", batch_size=4, dtype="bfloat16")
    bf16 = HFEncoder(str(tiny_bert), options)
    assert bf16.packed
    padded = HFEncoder(str(tiny_bert), replace(options, extra={"packing": "off"}))
    np.testing.assert_allclose(bf16.encode(TEXTS), exact, atol=2e-2)
    np.testing.assert_allclose(bf16.encode(TEXTS), padded.encode(TEXTS), atol=2e-2)


def test_packed_attention_on_cpu_computes_bf16_inputs_in_float32() -> None:
    # under bf16 autocast the fused kernel gets float32 copies of the bf16 queries, keys
    # and values (faster here and closer to float32); the result comes back in bf16
    from types import SimpleNamespace

    from harness.plugins.encoders.packed import _segment_attention

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 9, 4, generator=generator).bfloat16() for _ in range(3))
    bounds = [0, 5, 9]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = _segment_attention(SimpleNamespace(training=False), q, k, v, None,
                                    scaling=0.5, harness_segments=bounds)  # fmt: skip
    assert got.dtype == torch.bfloat16 and got.shape == (1, 9, 2, 4)
    for start, end in zip(bounds[:-1], bounds[1:], strict=False):
        scores = q[0, :, start:end].float() @ k[0, :, start:end].float().transpose(1, 2) * 0.5
        expected = torch.softmax(scores, -1) @ v[0, :, start:end].float()
        torch.testing.assert_close(
            got[0, start:end].float(), expected.transpose(0, 1).bfloat16().float(), atol=0, rtol=0
        )
