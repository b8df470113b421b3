"""bf16 only where the hardware computes it: read from the CPU's flags, never guessed."""

from __future__ import annotations

import pytest

from harness import hardware
from harness.plugins.lora.config import settings_from

AVX2 = "processor : 0\nflags : fpu sse2 avx avx2 fma\n"
BF16 = "processor : 0\nflags : fpu avx2 avx512f avx512_bf16\n"
AMX = "processor : 0\nflags : fpu avx2 amx_tile amx_bf16\n"


@pytest.mark.parametrize(("cpuinfo", "native"), [(AVX2, False), (BF16, True), (AMX, True),
                                                   ("", False)])  # fmt: skip
def test_native_bf16_reads_the_cpu_flags(cpuinfo: str, native: bool):
    assert hardware.native_bf16("cpu", cpuinfo) is native


@pytest.mark.parametrize(("cpuinfo", "expected"), [(AVX2, "fp32"), (BF16, "bf16")])
def test_lora_precision_auto_resolves_by_the_hardware(monkeypatch, cpuinfo, expected):
    real = hardware.cpu_flags
    monkeypatch.setattr(hardware, "cpu_flags", lambda text=None: real(cpuinfo))
    assert settings_from({}, "retrieval", "t2c", "cpu").precision == expected
    assert settings_from({"precision": "bf16"}, "retrieval", "t2c", "cpu").precision == "bf16"
    assert settings_from({"precision": "fp32"}, "retrieval", "t2c", "cpu").precision == "fp32"


def proc_stat(*cores: tuple[int, int]) -> str:
    """A /proc/stat whose cpuN line has (user, idle) jiffies `cores[N]` (the rest 0)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {user} 0 0 {idle} 0 0 0 0 0 0" for i, (user, idle) in enumerate(cores)]
    return "\n".join([*lines, "intr 0", "ctxt 0"]) + "\n"


def test_idle_cores_sums_each_allowed_cores_idle_share(monkeypatch):
    # core 0 busy the whole time, core 1 idle the whole time, core 2 half: 1.5 idle;
    # core 3 idle too but this process may not run there
    readings = iter([proc_stat((0, 0), (0, 0), (0, 0), (0, 0)),
                     proc_stat((10, 0), (0, 10), (5, 5), (0, 10))])  # fmt: skip
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert hardware.idle_cores(0.0, stat=lambda: next(readings)) == pytest.approx(1.5)


@pytest.mark.parametrize(("idle", "threads"), [(0.0, 1), (0.4, 1), (1.6, 2), (2.0, 2), (None, 2)])
def test_free_threads_are_the_idle_cores_at_least_one(monkeypatch, idle, threads):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(hardware, "idle_cores", lambda interval: idle)
    monkeypatch.setattr(hardware, "_LAST_CHOICE", [])
    assert hardware.free_threads() == threads


@pytest.mark.parametrize(
    ("asked", "cores", "workers"), [(0, 2, 2), (0, 32, 8), (3, 2, 3), (1, 16, 1)]
)
def test_mining_workers_default_to_one_per_allowed_core(monkeypatch, asked, cores, workers):
    import os

    from harness.plugins.local_dataset.mining import worker_count

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert worker_count(asked) == workers


MAPPED_AFTER_MALLOC = """
import ctypes, sys
from harness.hardware import keep_freed_memory
kept = keep_freed_memory()
class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.mallinfo2.restype = ctypes.c_void_p, Info
block = libc.malloc(32 << 20)
print(kept, libc.mallinfo2().hblkhd >= 32 << 20)
"""


@pytest.mark.skipif(
    __import__("platform").libc_ver()[0] != "glibc", reason="glibc's malloc settings"
)
@pytest.mark.parametrize(
    ("environment", "kept", "mapped"),
    [({}, True, False), ({"MALLOC_ARENA_MAX": "64"}, False, True)],
)
def test_keep_freed_memory_serves_large_blocks_from_the_heap(environment, kept, mapped):
    # glibc maps a fresh 32 MiB block on its own by default (mallinfo2's hblkhd counts
    # it); kept, it comes from the heap. A MALLOC_* variable the user set is left alone.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", MAPPED_AFTER_MALLOC], env={**env, **environment},
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.split() == [str(kept), str(mapped)]
