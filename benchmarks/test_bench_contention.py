"""Encoding while another process keeps a core busy: torch's defaults against harness's
choice of threads.

A second process runs a one-thread float32 matrix-product loop for the whole run. Each
round encodes the same texts with the bundled MiniLM (batch 32, max length 256) in fresh
processes, one per setting, interleaved (benchmarks/sidebyside.py):

- ``default``: torch's thread count (every core) and OpenMP's default wait policy
  (a thread that waits for the others spins);
- ``passive``: the same threads, ``OMP_WAIT_POLICY=PASSIVE`` (a waiting thread sleeps);
- ``harness``: what `HFEncoder.encode` does (`harness.hardware.free_threads`: the cores
  idle now) with ``OMP_WAIT_POLICY=PASSIVE`` (which harness's entry point sets).

The ratio is default over harness (and passive over harness), the same with no busy
process (``idle``: harness must not lose there), and each process's encoding time.

    python -m pytest benchmarks/test_bench_contention.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sidebyside import SideBySide, report, side_by_side, smoke

N_TEXTS, BATCH, MAX_LENGTH, ROUNDS = 96, 32, 256, 3

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {here!r})
    import torch
    from test_bench_encoding import stdlib_functions
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.card_encoder import build_minilm
    texts = stdlib_functions({n})
    encoder = build_minilm(None, EncoderOptions(device="cpu", batch_size={batch},
                                                max_length={max_length}))
    encoder.encode(texts[:8])
    started = time.perf_counter()
    encoder.encode(texts)
    print(json.dumps({{"seconds": time.perf_counter() - started,
                      "threads_at_start": torch.get_num_threads()}}))
    """
)

BUSY = "import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\nwhile True:\n    a @ a\n"


def encode_in_child(setting: str, n: int) -> dict[str, Any]:
    """Encode `n` texts in a fresh process under `setting`; its seconds."""
    environment = {**os.environ, "HARNESS_NO_PROGRESS": "1"}
    environment.pop("OMP_WAIT_POLICY", None)
    environment.pop("OMP_NUM_THREADS", None)
    if setting in ("passive", "harness"):
        environment["OMP_WAIT_POLICY"] = "PASSIVE"
    if setting != "harness":
        environment["HARNESS_THREADS"] = str(os.cpu_count())  # torch's default: every core
    script = CHILD.format(here=str(Path(__file__).parent), n=n, batch=BATCH,
                          max_length=MAX_LENGTH)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=environment, timeout=3600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(benchmark: Any, n: int, rounds: int, peer: str) -> SideBySide:
    seconds: dict[str, list[float]] = {peer: [], "harness": []}

    def run(setting: str) -> None:
        seconds[setting].append(encode_in_child(setting, n)["seconds"])

    side_by_side(benchmark, lambda: run(peer), lambda: run("harness"), rounds=rounds)
    return SideBySide(peer_s=seconds[peer], harness_s=seconds["harness"])


def test_encoding_under_contention(benchmark) -> None:
    n, rounds = (8, 1) if smoke(benchmark) else (N_TEXTS, ROUNDS)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        default = measure(benchmark, n, rounds, "default")
        passive = measure(benchmark, n, rounds, "passive")
    finally:
        busy.kill()
        busy.wait()
    idle = measure(benchmark, n, rounds, "default")
    figures = report(
        benchmark, "encoding under contention", default,
        peer="torch's default threads and wait policy, one busy core beside it",
        passive_over_harness=passive.summary(), idle_default_over_harness=idle.summary(),
        texts=n, batch_size=BATCH, max_length=MAX_LENGTH, cpu_count=os.cpu_count(),
    )  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0
