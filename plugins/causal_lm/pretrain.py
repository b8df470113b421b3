"""Pretraining `tiny-code-lm`: tokenizer, packed token streams, a resumable training loop.

1. Data (`pretrain_data`, made once): a byte-level BPE trained on the corpus
   and the training and held-out token streams.
2. Training: the stream is cut into sequences of `seq_len` tokens, visited in
   a seeded permutation per epoch; AdamW (betas 0.9/0.95, weight decay on
   matrices only), linear warmup then cosine decay to `min_lr_ratio`, gradient
   clipping, bf16 autocast where the hardware computes bf16 (`precision` auto), else
   float32. Checkpoints (`adapters.checkpoint`: safetensors
   weights and optimizer state, a JSON state, no pickle) every
   `checkpoint_every` steps: a killed pretraining resumes where it stopped.
   There is no dropout and the data order is fixed, so a resumed run follows
   the same path.
3. Held-out perplexity (float32) on up to 64 sequences of held-out files, and
   bits per byte (independent of the tokenizer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

import harness.plugins.causal_lm.tiny_settings as spec
from harness.atomic import publishing
from harness.errors import HarnessError
from harness.hardware import resolve_precision
from harness.plugins.adapters.checkpoint import load_checkpoint, save_checkpoint
from harness.plugins.causal_lm.pretrain_data import TrainingData, prepare_data
from harness.plugins.causal_lm.tiny_settings import NAME, PretrainSettings
from harness.progress import console, progress_bar
from harness.results import file_lock

EVAL_SEQUENCES = 64


def pretrain(
    settings: PretrainSettings,
    cache_dir: Path,
    *,
    device: str = "cpu",
    ident: spec.Identity | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Pretrain (or resume, or find cached) and return the model folder and its meta."""
    settings = resolve_precision(settings, device)
    ident = ident or spec.identity(settings)
    root = spec.models_root(cache_dir)
    final, work = root / ident.key, root / ".work" / ident.key
    with file_lock(root / ".work" / f"{ident.key}.lock"):
        meta = spec.read_meta(final)
        if meta is not None:
            return final, meta
        data = prepare_data(settings, work / "data")
        model, training = train(settings, data, work / "checkpoint", torch.device(device))
        began = time.perf_counter()
        heldout = evaluate(model, data, settings.seq_len)
        eval_seconds = time.perf_counter() - began
        meta = {
            "model": NAME,
            "key": ident.key,
            "settings_key": ident.settings_key,
            "settings": settings.determining(),
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "steps": settings.steps,
            "seq_len": settings.seq_len,
            # data preparation + training (over every resumption) + held-out evaluation
            "seconds": round(
                data.description["seconds"] + training["train_seconds"] + eval_seconds, 1
            ),  # fmt: skip
            **training,
            "eval_seconds": round(eval_seconds, 1),
            "heldout": heldout,
            "corpus": ident.corpus,
            "corpus_summary": data.description,
            "device": device,
            "threads": torch.get_num_threads(),
            "versions": {p: metadata.version(p) for p in ("torch", "transformers", "tokenizers")},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _write_model(final, model, data.tokenizer, meta)
        shutil.rmtree(work, ignore_errors=True)
    return final, meta


def new_model(settings: PretrainSettings, tokenizer: Any) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    arch = settings.architecture
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        max_position_embeddings=settings.seq_len,
        rope_parameters={"rope_theta": arch.rope_theta, "rope_type": "default"},
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def train(
    settings: PretrainSettings, data: TrainingData, checkpoint: Path, device: torch.device
) -> tuple[Any, dict[str, Any]]:
    """Train from scratch or from `checkpoint`; returns the model (eval mode) and a report."""
    model = new_model(settings, data.tokenizer).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay},
         {"params": other, "weight_decay": 0.0}],
        lr=settings.lr, betas=(0.9, 0.95),
    )  # fmt: skip
    start, losses, seconds = 0, [], 0.0
    resumed = load_checkpoint(checkpoint)
    if resumed is not None:
        load_model(model, str(checkpoint / "model.safetensors"), device=str(device))
        optimizer.load_state_dict(resumed.optimizer)
        start, losses, seconds = resumed.step, resumed.losses, resumed.seconds
        console().print(f"{NAME}: resuming at step {start} of {settings.steps}")
    sequences = len(data.train) // settings.seq_len
    order = _Order(sequences, settings.seed)
    autocast: Any = contextlib.nullcontext()
    if settings.precision == "bf16":
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    model.train()
    began = time.perf_counter() - seconds
    with progress_bar(f"pretraining {NAME}", total=settings.steps, unit="steps") as advance:
        advance(start)
        for step in range(start, settings.steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(settings, step)
            rows = [order[i] for i in range(step * settings.batch_size,
                                            (step + 1) * settings.batch_size)]  # fmt: skip
            batch = np.stack([data.train[r * settings.seq_len : (r + 1) * settings.seq_len]
                              for r in rows])  # fmt: skip
            input_ids = torch.from_numpy(batch.astype(np.int64)).to(device)
            with autocast:
                loss = model(input_ids=input_ids, labels=input_ids).loss
            loss.backward()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise HarnessError(f"{NAME}: the loss became {value} at step {step + 1}")
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(value, 4))
            done = step + 1
            advance(1, loss=f"{value:.3f}")
            if done % settings.checkpoint_every == 0 or done == settings.steps:
                state = {"step": done, "losses": losses, "seconds": time.perf_counter() - began}
                _save_checkpoint(checkpoint, model, optimizer, state)
    model.eval()
    elapsed = time.perf_counter() - began
    report = {
        "train_seconds": round(elapsed, 1),
        "tokens_seen": settings.tokens,
        "epochs": round(settings.steps * settings.batch_size / max(1, sequences), 3),
        "resumed_from": start,
        "tokens_per_second": round(
            (settings.steps - start)
            * settings.batch_size
            * settings.seq_len
            / max(1e-9, elapsed - seconds)
        ),
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "loss": loss_summary(losses),
    }
    return model, report


def learning_rate(settings: PretrainSettings, step: int) -> float:
    """Linear warmup to `lr`, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
    warmup = min(settings.warmup_steps, max(1, settings.steps // 10))
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup - 1)
    floor = settings.min_lr_ratio
    return settings.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def loss_summary(losses: list[float], points: int = 10) -> dict[str, Any]:
    """First and final loss and the curve as means over `points` equal stretches of steps."""
    if not losses:
        return {}
    size = max(1, math.ceil(len(losses) / points))
    curve = [
        [min(i + size, len(losses)), round(float(np.mean(losses[i : i + size])), 4)]
        for i in range(0, len(losses), size)
    ]
    return {"first": losses[0], "last": losses[-1], "final_mean": curve[-1][1], "curve": curve}


def evaluate(model: Any, data: TrainingData, seq_len: int) -> dict[str, Any]:
    """Held-out perplexity (per token, float32) and bits per byte of the held-out files."""
    stream = data.heldout
    count = max(1, min(EVAL_SEQUENCES, (len(stream) - 1) // seq_len))
    width = min(seq_len, len(stream))
    token_bytes = _token_bytes(data.tokenizer)
    nll, tokens, n_bytes = 0.0, 0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for index in range(count):
            chunk = stream[index * width : (index + 1) * width].astype(np.int64)
            if len(chunk) < 2:
                break
            input_ids = torch.from_numpy(chunk)[None].to(device)
            loss = float(model(input_ids=input_ids, labels=input_ids).loss)
            nll += loss * (len(chunk) - 1)
            tokens += len(chunk) - 1
            n_bytes += int(token_bytes[chunk[1:]].sum())
    return {
        "tokens": tokens,
        "loss": round(nll / tokens, 4),
        "perplexity": round(math.exp(nll / tokens), 2),
        "bits_per_byte": round(nll / math.log(2) / max(1, n_bytes), 4),
    }


def _token_bytes(tokenizer: Any) -> np.ndarray:
    """Bytes each token stands for (byte-level BPE: one vocabulary character per byte)."""
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return np.asarray([0 if i in special else len(p) for i, p in enumerate(pieces)])


class _Order:
    """Sequence indices in a seeded permutation per epoch: ``order[k]`` is the k-th visited."""

    def __init__(self, sequences: int, seed: int) -> None:
        self.sequences, self.seed = sequences, seed
        self._epoch, self._permutation = -1, np.arange(0)

    def __getitem__(self, k: int) -> int:
        epoch, index = divmod(k, self.sequences)
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch, self._permutation = epoch, rng.permutation(self.sequences)
        return int(self._permutation[index])


def _save_checkpoint(folder: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    save_checkpoint(folder, lambda to: save_model(model, str(to / "model.safetensors")),
                    optimizer.state_dict(), state)  # fmt: skip


def _write_model(final: Path, model: Any, tokenizer: Any, meta: dict[str, Any]) -> None:
    """``save_pretrained`` files and meta.json, written beside and renamed into place."""
    from transformers.utils import logging as transformers_logging

    with publishing(final) as folder:
        bar_was_enabled = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            model.save_pretrained(str(folder))
            tokenizer.save_pretrained(str(folder))
        finally:
            if bar_was_enabled:
                transformers_logging.enable_progress_bar()
        (folder / spec.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def summary_line(folder: Path, meta: dict[str, Any]) -> str:
    """One line about a pretrained model, for the command and the notes."""
    heldout = meta.get("heldout", {})
    corpus = meta.get("corpus_summary", {})
    return (
        f"{NAME} {meta.get('key')}: {meta.get('n_parameters', 0) / 1e6:.2f}M parameters, "
        f"{meta.get('steps')} steps x {meta.get('settings', {}).get('batch_size')} x "
        f"{meta.get('seq_len')} tokens in {meta.get('seconds')} s; held-out perplexity "
        f"{heldout.get('perplexity')} ({heldout.get('bits_per_byte')} bits/byte); corpus "
        f"{corpus.get('files_train')} + {corpus.get('files_heldout')} files, "
        f"{corpus.get('tokens_train')} training tokens; in {folder}"
    )
