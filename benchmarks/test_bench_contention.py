"""Encoding while another process keeps a core busy: torch's defaults against
``OMP_WAIT_POLICY=PASSIVE``, and against computing with only the cores that are free.

A second process runs a one-thread float32 matrix-product loop for the whole run. Each
round encodes the same texts with the bundled MiniLM (batch 32, max length 256) in fresh
processes, one per setting, interleaved (benchmarks/sidebyside.py):

- ``default``: torch's thread count (every core) and OpenMP's default wait policy
  (a thread that waits for the others spins);
- ``harness``: the same threads, ``OMP_WAIT_POLICY=PASSIVE`` (a waiting thread sleeps),
  as harness's commands set it before torch starts;
- ``free``: PASSIVE and only the cores idle at the start (`harness.hardware.free_threads`).

The ratio is default over harness (and free over harness), the same with no busy
process (``idle``: PASSIVE must not lose there), and each process's encoding time.

    python -m pytest benchmarks/test_bench_contention.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sidebyside import SideBySide, child_json, report, side_by_side, smoke

N_TEXTS, BATCH, MAX_LENGTH, ROUNDS = 64, 32, 256, 2
SETTINGS = ("default", "harness", "free", "idle default", "idle harness")

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {here!r})
    {setup}
    import torch
    from test_bench_encoding import stdlib_functions
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.card_encoder import build_minilm
    texts = stdlib_functions({n})
    encoder = build_minilm(None, EncoderOptions(device="cpu", batch_size={batch},
                                                max_length={max_length}, dtype={dtype!r}))
    if {free}:
        from harness.hardware import free_threads
        torch.set_num_threads(free_threads())
    encoder.encode(texts[:8])
    started = time.perf_counter()
    encoder.encode(texts)
    print(json.dumps({{"seconds": time.perf_counter() - started,
                      "threads": torch.get_num_threads()}}))
    """
)

BUSY = "import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\nwhile True:\n    a @ a\n"


def encode_in_child(
    setting: str, n: int, *, setup: str = "", dtype: str = "float32"
) -> dict[str, Any]:
    """Encode `n` texts in `dtype` in a fresh process under `setting`, after running the
    line `setup` first thing; its seconds."""
    environment = {**os.environ, "HARNESS_NO_PROGRESS": "1"}
    environment.pop("OMP_WAIT_POLICY", None)
    environment.pop("OMP_NUM_THREADS", None)
    if setting in ("harness", "free"):
        environment["OMP_WAIT_POLICY"] = "PASSIVE"
    script = CHILD.format(here=str(Path(__file__).parent), n=n, batch=BATCH, setup=setup,
                          max_length=MAX_LENGTH, free=setting == "free", dtype=dtype)  # fmt: skip
    return child_json(script, environment)


def test_encoding_under_contention(benchmark) -> None:
    n, rounds = (8, 1) if smoke(benchmark) else (N_TEXTS, ROUNDS)
    seconds: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
    threads: dict[str, int] = {}

    def run(*settings: str) -> None:
        for setting in settings:
            measured = encode_in_child(setting.removeprefix("idle "), n)
            seconds[setting].append(measured["seconds"])
            threads[setting] = measured["threads"]

    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        side_by_side(benchmark, lambda: run("default", "free"), lambda: run("harness"),
                     rounds=rounds)  # fmt: skip
    finally:
        busy.kill()
        busy.wait()
    for _ in range(rounds):
        run("idle default", "idle harness")

    def pair(peer: str, ours: str) -> dict[str, Any]:
        return SideBySide(peer_s=seconds[peer], harness_s=seconds[ours]).summary()

    figures = report(
        benchmark, "encoding under contention",
        SideBySide(peer_s=seconds["default"], harness_s=seconds["harness"]),
        peer="torch's default threads and wait policy, one busy core beside it",
        free_over_harness=pair("free", "harness"),
        idle_default_over_harness=pair("idle default", "idle harness"),
        seconds=seconds, threads=threads, texts=n, batch_size=BATCH, max_length=MAX_LENGTH,
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0
