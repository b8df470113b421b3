"""Work counted in floating-point operations, and the matmul peak it is set against.

`encoder_flops` counts the matrix products of a BERT-like encoder's forward pass over
the real tokens of each text (padding is not useful work, so padded tokens lower the
achieved rate). `matmul_peak` measures what a plain square matrix product reaches on
the device in the same run, the ceiling the achieved rate is a share of.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any


def encoder_flops(lengths: Iterable[int], *, hidden: int, layers: int, intermediate: int) -> int:
    """Forward FLOPs (2 per multiply-add) of a BERT-like encoder over texts of these token
    counts: per layer and token, the Q, K, V and output projections (4 d^2), the
    feed-forward pair (2 d f), and attention over the text's own n tokens (scores and
    their weighted sum, 2 n d). Embeddings, norms and pooling are left out (a few %).

    >>> encoder_flops([2], hidden=4, layers=1, intermediate=8)  # 2 * (2 * (64 + 64) + 2*2*2*4)
    576
    """
    total = 0
    for n in lengths:
        total += n * (4 * hidden * hidden + 2 * hidden * intermediate) + 2 * n * n * hidden
    return 2 * layers * total


def matmul_peak(device: Any, dtype: Any, size: int, *, repeats: int = 10) -> float:
    """FLOP/s of a ``size`` x ``size`` x ``size`` matrix product on `device` in `dtype`
    (random data, 3 warm-ups, the mean of `repeats` timed products)."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def synchronize(device: Any) -> None:
    """Wait for `device`'s queued work (a no-op on the CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
