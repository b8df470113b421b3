"""LoRA for causal LMs on the completion task: the loss is on the target tokens only
(`adapters.completion_loss`), trained through the shared loop in `trainer.train_lora`
(checkpoints, resume, schedule).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from harness.data import CompletionExample
from harness.plugins.adapters import ddp
from harness.plugins.adapters.completion_loss import completion_batch, target_loss_sum
from harness.plugins.adapters.report import TrainReport
from harness.plugins.adapters.targets import causal_targets
from harness.plugins.lora.config import LoraSettings
from harness.plugins.lora.trainer import train_lora


def train_causal_lora(
    lm: Any,
    examples: Sequence[CompletionExample],
    settings: LoraSettings,
    workdir: Path,
    *,
    description: str = "training",
) -> tuple[Any, TrainReport]:
    """Train a LoRA on `lm.model` (left unchanged) on `examples`; resumable from `workdir`."""

    ddp.check_batch(settings.batch_size, description)

    def loss_of(model: Any, chosen: list[CompletionExample]) -> torch.Tensor:
        # torchrun: this rank's share of the batch, the whole batch's mean (plugins/adapters/ddp.py)
        batch = completion_batch(lm, ddp.my_share(chosen), settings.max_length)
        total, count = target_loss_sum(model, batch, lm.device, settings.precision)
        return ddp.batch_mean(total, count)

    return train_lora(
        lm, list(examples), settings, workdir, description=description,
        loss_of=loss_of, targets=causal_targets(lm.model, settings.target_modules),
    )  # fmt: skip
