"""InfoNCE with in-batch negatives over cosine similarity.

Row i of the query embeddings should score its own positive (row i of the
code embeddings) above every other positive in the batch. Items of one
group (one source program) are never each other's negatives: their
similarities are masked out of the softmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def same_group_mask(groups: Sequence[str]) -> torch.Tensor:
    """True where row and column belong to one (non-empty) group, off the diagonal."""
    n = len(groups)
    mask = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            if i != j and groups[i] and groups[i] == groups[j]:
                mask[i, j] = True
    return mask


def info_nce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    *,
    temperature: float,
    groups: Sequence[str] | None = None,
    symmetric: bool = False,
) -> torch.Tensor:
    """Mean cross-entropy of each query over the batch's positives (embeddings unit-norm)."""
    logits = queries @ positives.T / temperature
    if groups is not None:
        logits = logits.masked_fill(same_group_mask(groups).to(logits.device), float("-inf"))
    labels = torch.arange(len(queries), device=queries.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, labels)) / 2
    return loss
