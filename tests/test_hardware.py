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
