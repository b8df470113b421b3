"""Measuring a peer and harness side by side: interleaved rounds in one run.

Each round runs the peer, then harness, on the same inputs, so a slow spell of
a shared machine hits both; the figure is the ratio peer/harness of each round,
reported as its median with the smallest and largest round. pytest-benchmark
times the harness half (the peer runs in its `setup`); with
``--benchmark-disable`` (the smoke run) each side runs once, on small inputs.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SideBySide:
    peer_s: list[float] = field(default_factory=list)
    harness_s: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [p / h for p, h in zip(self.peer_s, self.harness_s, strict=True)]

    def summary(self) -> dict[str, Any]:
        ratios = self.ratios
        return {
            "rounds": len(ratios),
            "peer_median_s": statistics.median(self.peer_s),
            "harness_median_s": statistics.median(self.harness_s),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "load_average": os.getloadavg()[0],
            "cpu_count": os.cpu_count(),
        }


def smoke(benchmark: Any) -> bool:
    """True in the smoke run (``--benchmark-disable``): use small inputs."""
    return bool(getattr(benchmark, "disabled", False))


def side_by_side(
    benchmark: Any,
    peer: Callable[[], Any],
    ours: Callable[[], Any],
    *,
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> SideBySide:
    """Interleave `rounds` rounds of (peer, ours); record every time and the ratios."""
    record = SideBySide()

    def run_peer() -> None:
        started = clock()
        peer()
        record.peer_s.append(clock() - started)

    def run_ours() -> None:
        started = clock()
        ours()
        record.harness_s.append(clock() - started)

    benchmark.pedantic(run_ours, setup=run_peer, rounds=rounds, iterations=1)
    return record


def child_json(script: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the Python `script` in a fresh process (`environment`, default this one's
    without progress bars) and return the JSON object its last line of output prints; a
    failing child fails the benchmark with the end of its stderr."""
    import subprocess
    import sys

    environment = environment or {**os.environ, "HARNESS_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=environment, timeout=3600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(benchmark: Any, name: str, record: SideBySide, **details: Any) -> dict[str, Any]:
    """Put the figures in the benchmark's extra info and print them as one JSON object."""
    figures = {"benchmark": name, **record.summary(), **details}
    benchmark.extra_info.update(figures)
    print("\n" + json.dumps(figures, indent=2, default=str))
    return figures


def ratio_text(figures: dict[str, Any]) -> str:
    """``12.3x (11.9-13.0)``: the median ratio and its range over the rounds."""
    return f"{figures['ratio_median']:.2f}x ({figures['ratio_min']:.2f}-{figures['ratio_max']:.2f})"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux's VmHWM belongs to the address space, which `exec` replaces, so a child
    process reports its own peak; `ru_maxrss` survives `exec` and would report the
    parent's memory at fork time when that was larger (pytest holding the peer's score
    matrix, say). Elsewhere, `ru_maxrss` it is.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes there, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
