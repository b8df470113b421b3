"""Nothing non-finite is trained, cached or listed (issue 17): an adapter whose training
left a NaN or an infinity in a weight is refused by the store, which keeps nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.lora.store import AdapterStore


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_an_adapter_with_a_non_finite_weight_is_never_stored(tiny_bert: Path, tmp_path, bad):
    from peft import LoraConfig, get_peft_model

    encoder = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu"), name="tiny")
    model = get_peft_model(encoder.model, LoraConfig(r=2, target_modules=["query", "value"]))
    store = AdapterStore(tmp_path)
    store.save("a" * 16, model, {"ok": True})  # finite: stored
    name, weight = next((n, p) for n, p in model.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        weight[0, 0] = bad
    with pytest.raises(HarnessError, match=r"adapter b{16}: training left non-finite values"):
        store.save("b" * 16, model, {"ok": False})
    assert [a.key for a in store.list()] == ["a" * 16]
    assert not list(tmp_path.glob(".b*"))
