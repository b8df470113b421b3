"""Runs under PyTorch's launcher: ``torchrun --nproc_per_node N -m harness run ...``.

torchrun starts one process per rank and sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (multi-node too); without
them everything here is a no-op and a run is one process. Under torchrun:

- `setup` joins the default process group once: ``nccl`` when the run uses
  CUDA (each rank on ``cuda:LOCAL_RANK``), else ``gloo``;
- `ShardedEncoder` splits encoding by batches: texts are ordered and cut into
  batches exactly as one process would (the encoder's `order`, if it has one),
  batch ``k`` goes to rank ``k % N``, and the embeddings are gathered back into
  input order, so each embedding is computed in the very batch a single
  process would compute it in;
- LoRA training wraps the model in DistributedDataParallel (plugins/adapters/ddp.py);
- only rank 0 reads and writes the embedding cache, writes results and
  adapters, and prints; the others encode and train their share.

Importing this module imports no torch.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.encoder import Role


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def launched() -> bool:
    """True in a process started by torchrun (or anything that sets its variables) for N > 1."""
    return world_size() > 1 and "MASTER_ADDR" in os.environ


def is_main() -> bool:
    """Rank 0 of a torchrun run, or a process on its own."""
    return not launched() or rank() == 0


def active() -> bool:
    """The process group is up and has more than one rank."""
    if not launched():
        return False
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized())


def setup(device: str = "auto") -> None:
    """Join the process group (idempotent); quiet the ranks other than 0."""
    if not launched():
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    # leave the group before the interpreter ends: a gloo group left to process teardown
    # aborted a rank now and then ("terminate called without an active exception")
    atexit.register(_leave)
    if not is_main():
        from harness.progress import console

        os.environ["HARNESS_NO_PROGRESS"] = "1"
        console().quiet = True


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def from_main(value: Any) -> Any:
    """Rank 0's `value` on every rank (a picklable object); `value` itself without torchrun."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(rows: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Every rank's float32 `rows` (rank r holds `counts[r]` of them), on every rank."""
    import torch
    import torch.distributed as dist

    device = _collective_device()
    width = rows.shape[1]
    most = max(max(counts), 1)
    padded = torch.zeros((most, width), dtype=torch.float32, device=device)
    padded[: len(rows)] = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return [part[:n].cpu().numpy() for part, n in zip(parts, counts, strict=True)]


def _collective_device() -> Any:
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def batch_shards(
    texts: Sequence[str], batch_size: int, n_ranks: int, *, order: Sequence[int] | None = None
) -> list[list[int]]:
    """For each rank, the indices of its texts: whole batches, cut as one process cuts them.

    `order` is the order the encoder embeds texts in (`HFEncoder.order`); by default
    by length in characters, longest first, stably.

    >>> batch_shards(["aaa", "b", "cc", "dddd"], 1, 2)
    [[3, 2], [0, 1]]
    """
    if order is None:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [[i for batch in batches[r::n_ranks] for i in batch] for r in range(n_ranks)]


class ShardedEncoder:
    """`encoder`, each rank encoding its batches; every rank gets all rows, in input order."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray:
        if not texts:
            return np.asarray(self.encoder.encode([], role=role), dtype=np.float32)
        batch_size = int(getattr(self.encoder, "batch_size", 32) or 32)
        order = self.encoder.order(texts) if hasattr(self.encoder, "order") else None
        shards = batch_shards(texts, batch_size, world_size(), order=order)
        mine = shards[rank()]
        rows = np.asarray(
            self.encoder.encode([texts[i] for i in mine], role=role, description=description),
            dtype=np.float32,
        )
        width = int(from_main(rows.shape[1] if rows.ndim == 2 else 0))  # rank 0 has a batch
        rows = rows.reshape(len(mine), width)
        out = np.zeros((len(texts), width), dtype=np.float32)
        for shard, part in zip(shards, gather_rows(rows, [len(s) for s in shards]), strict=True):
            out[shard] = part
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["encoder"], name)


def sharded(encoder: Any) -> Any:
    """`encoder` sharded across the ranks under torchrun; `encoder` itself otherwise."""
    return ShardedEncoder(encoder) if active() else encoder
