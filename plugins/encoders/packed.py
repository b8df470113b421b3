"""Packed encoding: a batch's texts end to end in one row, no padded token.

A padded batch of texts sorted by length still spends 5-10% of its tokens on padding
(docs/performance.md), and every linear layer, GELU and layer norm computes them. Here
the batch goes through the model as one sequence of its real tokens only: position ids
restart at each text, and attention runs text by text, each on its own slice of the
packed queries, keys and values through PyTorch's fused kernel
(`F.scaled_dot_product_attention`), so no text attends to another and no token to a
pad. The model's own modules (and any LoRA wrapped around them) do the rest.

It needs an encoder whose attention goes through transformers' attention interface
and whose positions are absolute and come from ``position_ids``: `packable` says which
(BERT and the RoBERTa family: MiniLM, CodeBERT, GraphCodeBERT, UniXcoder). The
attention is swapped only for the packed call (`packed_hidden`); a padded call (LoRA
training's `forward`) runs the model's own.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from harness.plugins.encoders.hf_load import position_offset

IMPLEMENTATION = "harness_packed"
# encoders whose layers are BERT's: self-attention through the attention interface,
# absolute learned positions read from `position_ids`, token types optional
PACKABLE_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert"})


def packable(model: Any) -> bool:
    """Whether `model` can be run packed: a bidirectional BERT-family encoder with
    absolute positions and an attention implementation the interface dispatches."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in PACKABLE_MODEL_TYPES:
        return False
    return (
        not getattr(config, "is_decoder", False)
        and getattr(config, "position_embedding_type", "absolute") in (None, "absolute")
        and getattr(config, "_attn_implementation", None) in ("sdpa", "eager")
    )


def packed_hidden(
    model: Any, rows: Sequence[Sequence[int]], token_types: Sequence[Sequence[int]] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last hidden states of the texts `rows` (token ids, none empty) run packed,
    padded back to ``(texts, longest, dim)`` with its ``(texts, longest)`` mask of real
    tokens (right padding, zeros beyond each text), ready for `pool`."""
    device = next(model.parameters()).device
    bounds = [0, *itertools.accumulate(len(ids) for ids in rows)]
    lengths = torch.tensor([len(ids) for ids in rows], device=device)
    starts = torch.tensor(bounds[:-1], device=device)
    ids = torch.tensor([t for text in rows for t in text], device=device).unsqueeze(0)
    positions = torch.arange(ids.shape[1], device=device) - torch.repeat_interleave(starts, lengths)
    positions = positions + position_offset(model.config)
    types = (
        torch.tensor([t for text in token_types for t in text], device=device).unsqueeze(0)
        if token_types is not None
        else torch.zeros_like(ids)
    )
    with _attention(model):
        hidden = model(
            input_ids=ids, position_ids=positions.unsqueeze(0), token_type_ids=types,
            harness_segments=bounds,
        ).last_hidden_state[0]  # fmt: skip
    longest = int(lengths.max())
    mask = torch.arange(longest, device=device).unsqueeze(0) < lengths.unsqueeze(1)
    padded = hidden.new_zeros(len(rows) * longest, hidden.shape[-1])
    padded[mask.reshape(-1)] = hidden
    return padded.view(len(rows), longest, -1), mask.long()


@contextlib.contextmanager
def _attention(model: Any) -> Iterator[None]:
    """`model` with the packed attention for the length of one call."""
    config = model.config
    own = config._attn_implementation
    config._attn_implementation = IMPLEMENTATION
    try:
        yield
    finally:
        config._attn_implementation = own


def _segment_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention text by text over a packed ``(1, heads, tokens, head_dim)`` batch;
    returns ``(1, tokens, heads, head_dim)`` as transformers' attention functions do."""
    bounds = kwargs.get("harness_segments")
    if bounds is None:
        raise RuntimeError("packed attention called without the texts' boundaries")
    dropout = dropout if module.training else 0.0
    if query.device.type == "cpu" and query.dtype != torch.float32:
        # on CPU the fused kernel is no faster in bf16 than in float32 with the casts, and
        # less exact (MiniLM's embeddings: 1.5e-3 from float32's, 1.3e-3 this way): the
        # products around it stay in the autocast dtype, the attention itself does not
        with torch.autocast("cpu", enabled=False):
            out = _by_text(query.float(), key.float(), value.float(), bounds, scaling, dropout)
        return out.to(query.dtype), None
    return _by_text(query, key, value, bounds, scaling, dropout), None


def _by_text(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bounds: Sequence[int],
    scaling: float | None,
    dropout: float,
) -> torch.Tensor:
    out = query.new_empty(query.shape[2], query.shape[1], query.shape[3])
    for start, end in zip(bounds[:-1], bounds[1:], strict=False):
        part = F.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end],
            dropout_p=dropout, scale=scaling,
        )  # fmt: skip
        out[start:end] = part[0].transpose(0, 1)
    return out.unsqueeze(0)


AttentionInterface.register(IMPLEMENTATION, _segment_attention)
# no mask to build: each text's slice is attended whole
AttentionMaskInterface.register(IMPLEMENTATION, lambda *args, **kwargs: None)
