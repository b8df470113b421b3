"""Pooling token states into one embedding, each of sentence-transformers' modes
(``cls``, ``max``, ``mean``, ``mean_sqrt_len_tokens``, ``weightedmean``, ``lasttoken``,
or several joined by ``+``), with padding on either side and a prompt left out where the
model's folder says so. The HF encoder and LoRA training pool through `pool`.
"""

from __future__ import annotations

from typing import Any

import torch


def pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str, *, prompt_length: int = 0
) -> torch.Tensor:
    """Pool ``(batch, tokens, dim)`` states to ``(batch, dim)`` over the real tokens.

    `pooling` is one of sentence-transformers' modes (st_layout.POOLING_MODES) or several
    joined by ``+`` (concatenated in that order). Padding may sit on either side.
    `prompt_length` tokens after a text's first real one (its prompt) are left out, as a
    sentence-transformers Pooling module with ``include_prompt=False`` leaves them out.
    """
    mask = attention_mask.to(hidden.dtype)
    first = attention_mask.long().argmax(dim=1)  # first real token: after any left padding
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    if prompt_length:
        mask = mask * (positions.unsqueeze(0) >= (first + prompt_length).unsqueeze(1))
    pooled = [_POOLERS[mode](hidden, mask, first, positions) for mode in pooling.split("+")]
    return pooled[0] if len(pooled) == 1 else torch.cat(pooled, dim=-1)


def _masked_sum(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (hidden * weights.unsqueeze(-1)).sum(dim=1)


def _count(mask: torch.Tensor) -> torch.Tensor:
    return mask.sum(dim=1, keepdim=True).clamp(min=1e-9)


def _at(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


def _last(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token (zeros for a text without one)."""
    last = hidden.shape[1] - 1 - mask.flip(dims=[1]).argmax(dim=1)
    return _at(hidden, last) * mask.amax(dim=1, keepdim=True)


def _max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The largest value of each dimension over the real tokens (zeros for a text without
    one, where sentence-transformers gives -inf: a row no similarity can use)."""
    top = hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).amax(dim=1)
    return torch.where(mask.amax(dim=1, keepdim=True) > 0, top, torch.zeros_like(top))


def _weighted_mean(hidden: torch.Tensor, mask: torch.Tensor, first: torch.Tensor,
                   positions: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Token i of a text (counted from its first real token, 1-based) weighs i."""
    weights = mask * (positions.unsqueeze(0) + 1 - first.unsqueeze(1)).to(mask.dtype)
    return _masked_sum(hidden, weights) / _count(weights)


_POOLERS: dict[str, Any] = {
    "cls": lambda h, m, first, p: _at(h, m.argmax(dim=1)),
    "max": lambda h, m, first, p: _max(h, m),
    "mean": lambda h, m, first, p: _masked_sum(h, m) / _count(m),
    "mean_sqrt_len_tokens": lambda h, m, first, p: _masked_sum(h, m) / _count(m).sqrt(),
    "weightedmean": _weighted_mean,
    "lasttoken": lambda h, m, first, p: _last(h, m),
}
