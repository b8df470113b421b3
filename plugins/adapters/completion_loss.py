"""The completion loss every causal-LM adapter trains on: target tokens only.

Each example becomes ``prompt + target + end``: the prompt is the prefix
tokenized and left-truncated exactly as at evaluation (``CausalLM.prompt_ids``),
the target is tokenized on its own (so training sees the token boundary that
generation will see), and what follows it teaches the model where the expected
value ends: a newline, or ``)`` when the prefix left a bracket open (after
``assertEqual(x, `` a line break ends nothing, a closing bracket does). Labels
are -100 on the prompt and the padding, so only the target and its end are
learned. Shared by the causal-LM LoRA and the hypernetworks, so both learn the
same thing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from harness.data import CompletionExample
from harness.plugins.completion_stopping import open_brackets

IGNORE = -100


def completion_batch(
    lm: Any, examples: Sequence[CompletionExample], max_length: int
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (target tokens only)."""
    rows: list[tuple[list[int], list[int]]] = []
    for example in examples:
        # what ends the value where generation will stop: a line break, or, inside a bracket
        # the prefix left open (``assertEqual(x, ``), where a line break ends nothing, ``)``
        end = ")" if open_brackets(example.prefix) else "\n"
        target = lm.tokenizer(example.target + end, add_special_tokens=False)["input_ids"]
        target = target[: max(1, max_length // 2)]
        prompt = lm.prompt_ids(example.prefix, max(1, max_length - len(target)))
        rows.append((prompt + target, [IGNORE] * len(prompt) + target))
    width = max(len(ids) for ids, _ in rows)
    pad = lm.tokenizer.pad_token_id
    pad = 0 if pad is None else pad
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, row_labels) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(ids)] = torch.tensor(row_labels)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def target_loss(
    model: Any, batch: dict[str, torch.Tensor], device: torch.device, precision: str = "fp32"
) -> torch.Tensor:
    """Mean cross-entropy over the labelled (target) tokens of the batch."""
    total, count = target_loss_sum(model, batch, device, precision)
    return total / count


def target_loss_sum(
    model: Any, batch: dict[str, torch.Tensor], device: torch.device, precision: str = "fp32"
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the labelled (target) tokens of the batch, and their count."""
    autocast: Any = contextlib.nullcontext()
    if precision == "bf16" and device.type in ("cuda", "cpu"):
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    ids = batch["input_ids"].to(device)
    with autocast:
        logits = model(input_ids=ids, attention_mask=batch["attention_mask"].to(device)).logits
    labels = batch["labels"].to(device)
    shifted = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    targets = labels[:, 1:].reshape(-1)
    total = F.cross_entropy(shifted, targets, ignore_index=IGNORE, reduction="sum")
    return total, int((targets != IGNORE).sum())
