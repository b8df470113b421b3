"""What harness's process setting of glibc's malloc saves: encoding in fresh processes
with and without `harness.hardware.keep_freed_memory` (which harness's commands call
first thing).

Each round encodes the same standard-library functions with the bundled MiniLM (batch
32, max length 256) in two fresh processes, interleaved: ``plain`` (glibc's defaults:
torch's large intermediate tensors are mapped and unmapped, and faulted in page by page,
on every batch) and ``harness`` (freed memory kept for the next allocation). The ratio
is plain over harness, per dtype (bfloat16 only where it is native), with each process's
encoding time; the same texts and settings as `test_bench_encoding.py`, so its figures
and these multiply.

    python -m pytest benchmarks/test_bench_process.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import pytest
from sidebyside import SideBySide, report, side_by_side, smoke
from test_bench_contention import encode_in_child

N_TEXTS, ROUNDS = 256, 5
KEEP = "from harness.hardware import keep_freed_memory; assert keep_freed_memory()"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_keeping_freed_memory(benchmark, dtype) -> None:
    from harness.hardware import native_bf16

    if dtype == "bfloat16" and not smoke(benchmark) and not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated")
    n, rounds = (8, 1) if smoke(benchmark) else (N_TEXTS, ROUNDS)
    seconds: dict[str, list[float]] = {"plain": [], "harness": []}

    def run(setting: str) -> None:
        setup = KEEP if setting == "harness" else ""
        measured = encode_in_child("harness", n, setup=setup, dtype=dtype)
        seconds[setting].append(measured["seconds"])

    side_by_side(benchmark, lambda: run("plain"), lambda: run("harness"), rounds=rounds)
    figures = report(
        benchmark, f"keeping freed memory ({dtype})",
        SideBySide(peer_s=seconds["plain"], harness_s=seconds["harness"]),
        peer="glibc malloc's defaults", seconds=seconds, texts=n, dtype=dtype,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 0.95
