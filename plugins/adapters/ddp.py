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

Completion losses (causal-LM LoRA, hypernetworks) are means over the target
tokens of a batch: each rank takes the loss summed over its share's tokens,
and `batch_mean` scales it by N / (the whole batch's token count, summed over
the ranks), so DDP's average over N ranks gives the whole batch's gradient;
its value is the whole batch's mean on every rank.

Without torchrun every function here leaves the single-process path unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch

from harness import distributed
from harness.errors import HarnessError

T = TypeVar("T")


def wrap(module: Any, *, find_unused_parameters: bool = False) -> Any:
    """`module` in DistributedDataParallel under torchrun; as it is otherwise."""
    if not distributed.active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        module, device_ids=ids, find_unused_parameters=find_unused_parameters
    )


def check_batch(batch_size: int, what: str) -> None:
    """Refuse a batch that cannot give every rank a share."""
    if distributed.active() and batch_size < distributed.world_size():
        raise HarnessError(
            f"{what}: batch_size {batch_size} is smaller than the {distributed.world_size()} "
            "torchrun processes; every process needs a share of each batch"
        )


def batch_mean(share_total: torch.Tensor, share_count: int) -> torch.Tensor:
    """The whole batch's mean of per-token losses, from this rank's sum over its share.

    One process: ``share_total / share_count``. Under torchrun the value is the whole
    batch's mean on every rank and the gradient is N x this share's part of it (see the
    module doc).
    """
    if not distributed.active():
        return share_total / share_count
    import torch.distributed as dist

    sums = torch.stack([share_total.detach().double(),
                        torch.tensor(float(share_count), dtype=torch.float64,
                                     device=share_total.device)])  # fmt: skip
    dist.all_reduce(sums)
    total, count = sums[0], sums[1]
    mine = share_total * (distributed.world_size() / float(count))
    return mine + (total / count - mine).detach().to(mine.dtype)


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
