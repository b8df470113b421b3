"""What the machine computes natively: read from the hardware, never guessed from names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Settings = TypeVar("Settings")

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""x86 CPU flags (``/proc/cpuinfo``) with bf16 dot products in hardware."""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (empty when the system does not say)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(device: str = "auto", cpuinfo: str | None = None) -> bool:
    """Whether `device` computes bf16 matrix products natively: CUDA with bf16 support, or
    a CPU with AVX512-BF16 or AMX. Elsewhere bf16 is emulated (measured on an AVX2-only
    EPYC: a MiniLM LoRA step took 36 s under bf16 autocast against 2.6 s in float32).

    >>> native_bf16("cpu", "flags : fpu avx2 avx512f avx512_bf16")
    True
    >>> native_bf16("cpu", "flags : fpu avx2")
    False
    """
    if device.startswith("cuda") or device == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                return bool(torch.cuda.is_bf16_supported())
        except ImportError:
            pass
        if device.startswith("cuda"):
            return False
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_CPU_FLAGS)


def auto_dtype(device: str = "auto", cpuinfo: str | None = None) -> str:
    """What ``--dtype auto`` computes in on `device`: ``"bfloat16"`` where the hardware
    has bf16 matrix products (`native_bf16`), else ``"float32"`` (where bf16 would be
    emulated, and slower than float32).

    >>> auto_dtype("cpu", "flags : fpu avx2 amx_bf16"), auto_dtype("cpu", "flags : fpu avx2")
    ('bfloat16', 'float32')
    """
    return "bfloat16" if native_bf16(device, cpuinfo) else "float32"


def resolve_precision(settings: Settings, device: str = "auto") -> Settings:
    """A training's settings (a dataclass with a ``precision`` field) with ``auto`` made
    concrete for `device`: ``"bf16"`` where it is computed natively (`native_bf16`),
    ``"fp32"`` elsewhere (on an AVX2-only CPU emulated bf16 made a step ~14x slower than
    float32, docs/pretraining.md); an explicit precision as it is."""
    import dataclasses

    if getattr(settings, "precision", None) != "auto":
        return settings
    fields: Any = settings  # a dataclass instance (TypeVar bounds cannot say so)
    return dataclasses.replace(fields, precision="bf16" if native_bf16(device) else "fp32")


def idle_cores(interval: float = 0.05, stat: Callable[[], str] | None = None) -> float | None:
    """How many of the cores this process may run on sat idle over the next `interval`
    seconds (``/proc/stat``'s idle and iowait time of each, summed); None where the
    system does not say (not Linux)."""
    import os
    import time

    read = stat or (lambda: Path("/proc/stat").read_text(encoding="ascii"))
    try:
        allowed = {f"cpu{i}" for i in os.sched_getaffinity(0)}
        before = _cpu_times(read(), allowed)
        time.sleep(interval)
        after = _cpu_times(read(), allowed)
    except (OSError, AttributeError, ValueError):
        return None
    idle = 0.0
    for cpu, (busy_then, idle_then) in before.items():
        busy_now, idle_now = after.get(cpu, (busy_then, idle_then))
        elapsed = (busy_now - busy_then) + (idle_now - idle_then)
        idle += (idle_now - idle_then) / elapsed if elapsed > 0 else 1.0
    return idle


def _cpu_times(stat: str, allowed: set[str]) -> dict[str, tuple[int, int]]:
    """(busy, idle) jiffies of each allowed core in ``/proc/stat``."""
    times = {}
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if name in allowed:
            values = [int(v) for v in rest.split()]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            times[name] = (sum(values[:8]) - idle, idle)
    return times


_LAST_CHOICE: list[tuple[float, int]] = []


def allowed_cores() -> int:
    """How many cores this process may run on (its affinity; the machine's count where
    the system has no affinity)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def free_threads(interval: float = 0.05, max_age: float = 10.0) -> int:
    """Threads to compute with: the cores that are free now (`idle_cores`, rounded, at
    least 1), never more than this process may use; every allowed core where the system
    does not say. A choice younger than `max_age` seconds is reused (a caller that
    encodes many small batches does not wait `interval` each time)."""
    import time

    now = time.monotonic()
    if _LAST_CHOICE and now - _LAST_CHOICE[0][0] < max_age:
        return _LAST_CHOICE[0][1]
    allowed = allowed_cores()
    idle = idle_cores(interval)
    threads = allowed if idle is None else max(1, min(allowed, round(idle)))
    _LAST_CHOICE[:] = [(now, threads)]
    return threads


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(trim: int = 1 << 30, mmap: int = 1 << 26) -> bool:
    """Let glibc's malloc keep freed memory for the next allocation instead of handing
    it back to the system: blocks up to `mmap` bytes come from the heap, and the heap
    shrinks only past `trim` bytes free. Torch allocates every intermediate tensor
    afresh; by default the large ones are mapped, unmapped and faulted in again page by
    page on every batch (benchmarks/test_bench_process.py measures what this saves).

    True where set; False where the C library is not glibc or the user already chose
    (any ``MALLOC_*`` variable in the environment leaves malloc as it is)."""
    import ctypes
    import os
    import platform

    if platform.libc_ver()[0] != "glibc" or any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))
