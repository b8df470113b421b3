"""On CUDA: bf16 inference (--dtype bfloat16) and bf16 LoRA training; NCCL with two GPUs.

Marked `gpu` (deselected by default) and skipped where torch sees no CUDA device,
so ``python -m pytest -m gpu`` on a CPU machine reports them as skipped.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TEXTS = [f"def scale_{i}(values, factor):\n    return [v * factor + {i} for v in values]"
         for i in range(24)]  # fmt: skip


def test_bf16_inference_on_cuda_is_close_to_float32(tiny_bert: Path) -> None:
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder

    fp32 = HFEncoder(str(tiny_bert), EncoderOptions(device="cuda", max_length=64))
    bf16 = HFEncoder(str(tiny_bert), EncoderOptions(device="cuda", max_length=64,
                                                     dtype="bfloat16"))  # fmt: skip
    assert bf16.info["device"].startswith("cuda") and bf16.info["dtype"] == "bfloat16"
    a, b = fp32.encode(TEXTS), bf16.encode(TEXTS)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert np.abs(a - b).max() < 3e-2  # bf16 keeps 8 bits: close, not equal
    cpu = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64)).encode(TEXTS)
    np.testing.assert_allclose(a, cpu, atol=1e-4)  # float32 on cuda: the CPU numbers


def test_bf16_lora_training_on_cuda_lowers_the_loss(tiny_bert: Path, tmp_path: Path) -> None:
    from harness.data import TrainPair
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder
    from harness.plugins.lora.config import LoraSettings
    from harness.plugins.lora.trainer import train_lora

    encoder = HFEncoder(str(tiny_bert), EncoderOptions(device="cuda", max_length=64))
    pairs = [TrainPair(f"scale the values by a factor plus {i}", text)
             for i, text in enumerate(TEXTS)]  # fmt: skip
    settings = LoraSettings(r=4, alpha=8, batch_size=8, max_steps=12, max_length=48,
                            lr=5e-3, warmup_steps=0, precision="bf16", epochs=4)  # fmt: skip
    model, report = train_lora(encoder, pairs, settings, tmp_path)
    assert next(model.parameters()).device.type == "cuda"
    assert all(math.isfinite(loss) for loss in report.losses)
    assert report.losses[-1] < report.losses[0]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_torchrun_on_two_gpus_uses_nccl(tiny_bert: Path, code_tree: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "harness",
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
        "--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "results").rglob("*.json"))) == 2
