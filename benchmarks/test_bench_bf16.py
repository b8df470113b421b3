"""bf16 on the CPU: is it faster, and do the metrics stay within 1e-3?

Inference: harness's retrieval evaluation of MiniLM on the benchmark split of
test_bench_retrieval.py, ``--dtype float32`` (the default) against
``--dtype bfloat16`` (autocast), side by side: the ratio is float32 time over
bfloat16 time, and the differences of MRR and NDCG@10 are recorded.

Training: the quick LoRA preset's settings, ``precision=fp32`` against
``precision=bf16`` (the preset's default on CPU and CUDA), the same batches
(20 steps of 32 standard-library pairs), each adapter then scored on the same
split: the ratio is fp32 training time over bf16 training time.

Nothing is asserted about the 1e-3: this records what the defaults rest on
(docs/performance.md).

    python -m pytest benchmarks/test_bench_bf16.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import time
from pathlib import Path

from sidebyside import SideBySide, report, side_by_side, smoke
from test_bench_retrieval import harness_evaluate, load_split
from test_bench_training import settings, training_pairs

TRAIN_STEPS = 20


def _minilm(dtype: str):  # type: ignore[no-untyped-def]
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.card_encoder import build_minilm

    return build_minilm(None, EncoderOptions(device="cpu", batch_size=32, max_length=512,
                                             dtype=dtype))  # fmt: skip


def test_bf16_inference_on_cpu(benchmark) -> None:
    split, source = load_split(*((4, 8) if smoke(benchmark) else (100, 200)))
    fp32, bf16 = _minilm("float32"), _minilm("bfloat16")
    answers: dict[str, dict[str, float]] = {}
    record = side_by_side(
        benchmark,
        lambda: answers.__setitem__("float32", harness_evaluate(fp32, split)),
        lambda: answers.__setitem__("bfloat16", harness_evaluate(bf16, split)),
        rounds=1 if smoke(benchmark) else 3,
    )
    report(
        benchmark, "bf16 inference (CPU)", record, data=source,
        peer="the same evaluation in float32", metrics_float32=answers["float32"],
        metrics_bfloat16=answers["bfloat16"],
        max_metric_difference=max(abs(answers["float32"][k] - answers["bfloat16"][k])
                                  for k in answers["float32"]),
    )  # fmt: skip


def test_bf16_training_on_cpu(benchmark, tmp_path: Path) -> None:
    from dataclasses import replace

    from harness.plugins.lora.trainer import train_lora

    steps, batch, length = (1, 4, 32) if smoke(benchmark) else (TRAIN_STEPS, 32, 128)
    split, source = load_split(*((4, 8) if smoke(benchmark) else (100, 200)))
    pairs = training_pairs(steps * batch)
    times: dict[str, float] = {}
    scores: dict[str, dict[str, float]] = {}

    def train_and_score(precision: str) -> None:
        encoder = _minilm("float32")
        started = time.perf_counter()
        adapted, _ = train_lora(encoder, pairs, replace(settings(steps, batch, length),
                                                        precision=precision),
                                tmp_path / precision)  # fmt: skip
        times[precision] = time.perf_counter() - started
        encoder.model = adapted
        scores[precision] = harness_evaluate(encoder, split)

    side_by_side(benchmark, lambda: train_and_score("fp32"), lambda: train_and_score("bf16"),
                 rounds=1)  # fmt: skip
    record = SideBySide(peer_s=[times["fp32"]], harness_s=[times["bf16"]])
    report(
        benchmark, "bf16 training (CPU)", record, data=source, steps=steps,
        peer="the same training in fp32", metrics_fp32=scores["fp32"],
        metrics_bf16=scores["bf16"],
        max_metric_difference=max(abs(scores["fp32"][k] - scores["bf16"][k])
                                  for k in scores["fp32"]),
    )  # fmt: skip
