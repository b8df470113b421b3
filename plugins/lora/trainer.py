"""Contrastive LoRA training of an encoder, checkpointed and resumable.

The data order is drawn up front from the seed, and each checkpoint keeps
the adapter weights, the optimizer and scheduler states, the step and the
torch random state (dropout), so a run killed mid-training and started again
ends with the same adapter as one that was never interrupted (on CPU).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file

from harness import distributed
from harness.errors import HarnessError
from harness.hardware import resolve_precision
from harness.plugins.adapters import ddp
from harness.plugins.adapters.checkpoint import load_checkpoint, save_checkpoint
from harness.plugins.adapters.report import TrainReport
from harness.plugins.adapters.targets import attention_targets, trainable_share
from harness.plugins.encoders.hf_encoder import ROLE_PROMPT
from harness.plugins.encoders.pooling import pool
from harness.plugins.lora.config import LoraSettings
from harness.plugins.lora.contrastive import info_nce
from harness.progress import progress_bar

STATE_FILE = "training_state.safetensors"  # optimizer and random state, no pickle


def batch_schedule(n_pairs: int, settings: LoraSettings) -> list[np.ndarray]:
    """Micro-batches of pair indices, in training order, drawn from the seed."""
    per_step = settings.batch_size * settings.grad_accum
    if n_pairs < settings.batch_size:
        raise HarnessError(
            f"{n_pairs} training pairs are fewer than one batch of {settings.batch_size}"
        )
    rng = np.random.default_rng(settings.seed)
    batches: list[np.ndarray] = []
    for _ in range(settings.epochs):
        order = rng.permutation(n_pairs)
        usable = (n_pairs // settings.batch_size) * settings.batch_size
        batches += [
            order[i : i + settings.batch_size] for i in range(0, usable, settings.batch_size)
        ]
    steps = len(batches) // settings.grad_accum
    if settings.max_steps:
        steps = min(steps, settings.max_steps)
    if steps < 1:
        raise HarnessError(f"{n_pairs} training pairs give no full step of {per_step} examples")
    return batches[: steps * settings.grad_accum]


def _lr_lambda(settings: LoraSettings, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if settings.warmup_steps and step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        if settings.schedule == "constant":
            return 1.0
        remaining = total - step
        return max(0.0, remaining / max(1, total - settings.warmup_steps))

    return factor


def wrap_with_lora(model: Any, settings: LoraSettings, targets: list[str] | None = None) -> Any:
    """A copy of `model` with fresh LoRA layers on `targets` (default: its attention
    query/value projections). The copy shares the frozen base weights with `model`
    (no second copy of them in memory); training changes only the LoRA weights."""
    torch.manual_seed(settings.seed)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets or attention_targets(model, settings.target_modules),
        bias="none",
    )
    with warnings.catch_warnings():
        # transformers 5 deprecates an attribute peft still reads; not the user's concern.
        warnings.simplefilter("ignore", FutureWarning)
        # own Parameter objects (peft freezes the copy's) over the same memory
        shared: dict[int, Any] = {id(b): b for b in model.buffers()}
        shared.update({id(p): torch.nn.Parameter(p.data, p.requires_grad)
                       for p in model.parameters()})  # fmt: skip
        return get_peft_model(copy.deepcopy(model, shared), config)


_GROUPINGS = (1, 2, 4, 8)
_FORWARD_COST_TOKENS = 256
"""What one more forward pass costs, in padded tokens, when choosing length groups."""


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of `lengths` sorted by length and cut into 1, 2, 4 or 8 groups of equal
    count, whichever pads the fewest tokens (each group padded to its longest text), one
    forward pass counting as `_FORWARD_COST_TOKENS` tokens.

    >>> length_groups([5, 300, 6, 290])
    [[0, 2], [3, 1]]
    >>> length_groups([10, 12, 10, 10])  # one group: in the given order
    [[0, 1, 2, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    best: list[list[int]] = [order]
    best_cost = float("inf")
    for k in (k for k in _GROUPINGS if k <= max(1, len(order))):
        cuts = [round(j * len(order) / k) for j in range(k + 1)]
        groups = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
        cost = sum(len(g) * lengths[g[-1]] for g in groups) + _FORWARD_COST_TOKENS * len(groups)
        if cost < best_cost:
            best, best_cost = groups, cost
    return best if len(best) > 1 else [list(range(len(lengths)))]  # one group: as given


def embed(
    peft_model: Any,
    encoder: Any,
    texts: Sequence[str],
    max_length: int,
    precision: str = "fp32",
    role: str | None = None,
) -> torch.Tensor:
    """Differentiable pooled, normalised embeddings from the adapted model, of `texts` in
    `role` as the encoder embeds them when it scores: after its prompt for the role, the
    prompt left out of the pooling where the model says so (an encoder without prompts:
    the texts as they are).

    Texts of very different lengths are embedded in length groups (`length_groups`),
    each padded to its own longest text: every text's embedding is what one padded
    batch gives (padding is masked), for fewer padded tokens.
    """
    prompted = getattr(encoder, "prompted", None)
    if prompted is not None and role is not None:
        texts = prompted(texts, role)
    skipped = getattr(encoder, "prompt_length", {}).get(ROLE_PROMPT.get(role or "", ""), 0)
    tokens = encoder.tokenizer(
        list(texts), truncation=True, max_length=min(max_length, encoder.max_length)
    )
    groups = length_groups([len(ids) for ids in tokens["input_ids"]])
    autocast: Any = contextlib.nullcontext()
    if precision == "bf16" and encoder.device.type in ("cuda", "cpu"):
        autocast = torch.autocast(device_type=encoder.device.type, dtype=torch.bfloat16)
    parts = []
    for group in groups:
        rows = {key: [values[i] for i in group] for key, values in tokens.items()}
        batch = encoder.tokenizer.pad(rows, padding=True, return_tensors="pt")
        batch = {k: v.to(encoder.device) for k, v in batch.items()}
        with autocast:
            hidden = peft_model(**batch).last_hidden_state
        parts.append(pool(hidden.float(), batch["attention_mask"], encoder.pooling,
                          prompt_length=skipped))  # fmt: skip
    pooled = parts[0]
    if len(parts) > 1:  # back to the order of `texts`
        order = torch.tensor([i for group in groups for i in group], device=pooled.device)
        stacked = torch.cat(parts)
        pooled = torch.empty_like(stacked).index_copy(0, order, stacked)
    return F.normalize(pooled, dim=-1)


def _save_checkpoint(
    folder: Path, peft_model: Any, optimizer: Any, progress: dict[str, Any]
) -> None:
    weights = {
        k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()
    }
    save_checkpoint(
        folder, lambda to: save_file(weights, str(to / "adapter.safetensors")),
        optimizer.state_dict(), progress, optimizer_file=STATE_FILE,
    )  # fmt: skip


def train_lora(
    encoder: Any,
    pairs: Sequence[Any],
    settings: LoraSettings,
    workdir: Path,
    *,
    description: str = "training",
    mask_same_group: bool = False,
    query_role: str = "query",
    on_step: Callable[[int], None] | None = None,
    loss_of: Callable[[Any, list[Any]], torch.Tensor] | None = None,
    targets: list[str] | None = None,
) -> tuple[Any, TrainReport]:
    """Train a LoRA on `encoder` (left unchanged) and return the adapted model and a report.

    `workdir` holds the checkpoint; when it has one, training resumes there. By default
    the items are `TrainPair`s and the loss is contrastive (InfoNCE); `loss_of(peft_model,
    items)` replaces it (the causal-LM trainer's loss on completion targets), and
    `targets` names the modules to adapt. Queries are embedded in `query_role` (the task
    card's: "code" for code-to-code), positives as documents, each with its prompt.
    Settings made without `config.settings_from` may still say ``precision=auto``: it
    resolves here as there (`harness.hardware.resolve_precision`; left unresolved, it
    once trained in float32 everywhere).
    """
    settings = resolve_precision(settings, str(encoder.device))
    batches = batch_schedule(len(pairs), settings)
    total_steps = len(batches) // settings.grad_accum
    peft_model = wrap_with_lora(encoder.model, settings, targets)
    forward_model = ddp.wrap(peft_model)  # DDP under torchrun
    trainable, total = trainable_share(peft_model)
    parameters = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(settings, total_steps))
    checkpoint = workdir / "checkpoint"
    start, losses, seconds = 0, [], 0.0
    resumed = load_checkpoint(checkpoint, optimizer_file=STATE_FILE)
    if resumed is not None:
        set_peft_model_state_dict(peft_model, load_file(str(checkpoint / "adapter.safetensors")))
        optimizer.load_state_dict(resumed.optimizer)
        torch.set_rng_state(resumed.rng)
        start, losses, seconds = resumed.step, resumed.losses, resumed.seconds
        with warnings.catch_warnings():
            # fast-forwarding the schedule to the resumed step, before any optimizer step
            # of this process: torch warns of a skipped first value, which is the point
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start):
                scheduler.step()
    peft_model.train()
    began = time.perf_counter() - seconds
    examples_per_step = settings.batch_size * settings.grad_accum
    with progress_bar(description, total=total_steps, unit="steps") as advance:
        advance(start)
        for step in range(start, total_steps):
            step_loss = 0.0
            for micro in range(settings.grad_accum):
                rows = batches[step * settings.grad_accum + micro]
                chosen = [pairs[i] for i in rows]
                if loss_of is not None:
                    loss = loss_of(forward_model, chosen) / settings.grad_accum
                else:
                    length, precision = settings.max_length, settings.precision
                    mine = ddp.my_share(chosen)  # all of it in one process
                    queries = ddp.gather(embed(
                        forward_model, encoder, [p.query for p in mine], length, precision,
                        query_role,
                    ), len(chosen))  # fmt: skip
                    codes = ddp.gather(embed(
                        forward_model, encoder, [p.positive for p in mine], length, precision,
                        "code",
                    ), len(chosen))  # fmt: skip
                    loss = info_nce(
                        queries, codes, temperature=settings.temperature,
                        groups=[p.group for p in chosen] if mask_same_group else None,
                        symmetric=settings.symmetric,
                    ) / settings.grad_accum  # fmt: skip
                loss.backward()
                step_loss += float(loss.detach())
            if not math.isfinite(step_loss):
                raise HarnessError(f"{description}: the loss became {step_loss} at step {step + 1}")
            torch.nn.utils.clip_grad_norm_(parameters, settings.clip_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(step_loss)
            elapsed = time.perf_counter() - began
            done = step + 1
            advance(
                1,
                loss=f"{step_loss:.3f}",
                ex_s=f"{examples_per_step * (done - start) / max(elapsed - seconds, 1e-9):.1f}",
            )
            due = done % settings.checkpoint_every == 0 or done == total_steps
            if due and distributed.is_main():  # under torchrun rank 0 keeps the checkpoint
                _save_checkpoint(checkpoint, peft_model, optimizer,
                                 {"step": done, "losses": losses, "seconds": elapsed})  # fmt: skip
            if on_step is not None:
                on_step(done)
    peft_model.eval()
    report = TrainReport(
        steps=total_steps, seconds=time.perf_counter() - began,
        examples=total_steps * examples_per_step, trainable=trainable, total=total,
        losses=losses, resumed_from=start,
    )  # fmt: skip
    return peft_model, report
