"""Contrastive LoRA training across torchrun ranks, with DistributedDataParallel.

Every rank draws the same batch schedule from the seed. Each rank embeds a
contiguous share of every batch (rank r of N: pairs ``[r*B/N, (r+1)*B/N)``),
the shares are gathered with their gradients (``torch.distributed.nn``
``all_gather``, whose backward sums what every rank sends back), and every rank
computes the InfoNCE loss of the whole batch, in-batch negatives from all
shares. The gradient that reaches rank r's parameters is then N times its
share's part of the whole-batch gradient; DDP averages over the N ranks, so
the step is the single-process step of the whole batch, up to floating-point
rounding (each share is padded to its own longest text). LoRA dropout draws
other masks than one process would, so runs with dropout agree in
distribution only; with dropout 0 they agree to rounding.

Without torchrun every function here leaves the single-process path unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch

from harness import distributed

T = TypeVar("T")


def wrap(peft_model: Any) -> Any:
    """`peft_model` in DistributedDataParallel under torchrun; as it is otherwise."""
    if not distributed.active():
        return peft_model
    from torch.nn.parallel import DistributedDataParallel

    device = next(peft_model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(peft_model, device_ids=ids)


def my_share(items: Sequence[T]) -> list[T]:
    """This rank's contiguous share of one batch (the whole batch without torchrun)."""
    start, stop = _bounds(len(items))[distributed.rank() if distributed.active() else 0]
    return list(items[start:stop])


def gather(rows: torch.Tensor, n_items: int) -> torch.Tensor:
    """Every rank's share of embeddings, in batch order, gradients flowing back to each."""
    if not distributed.active():
        return rows
    from torch.distributed.nn.functional import all_gather

    bounds = _bounds(n_items)
    most = max(stop - start for start, stop in bounds)
    padding = rows.new_zeros((most - len(rows), rows.shape[1]))
    parts = all_gather(torch.cat([rows, padding]))
    return torch.cat(
        [part[: stop - start] for part, (start, stop) in zip(parts, bounds, strict=True)]
    )


def _bounds(n_items: int) -> list[tuple[int, int]]:
    n_ranks = distributed.world_size() if distributed.active() else 1
    cuts = [round(i * n_items / n_ranks) for i in range(n_ranks + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))
