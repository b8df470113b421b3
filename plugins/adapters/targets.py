"""Which modules a LoRA adapts: the attention query and value projections.

Names differ by architecture; the first family whose names all occur in the
model wins: BERT/RoBERTa (CodeBERT, GraphCodeBERT, UniXcoder, StarEncoder,
MiniLM) ``query``/``value``; LLaMA/Qwen/T5-style ``q_proj``/``v_proj`` or
``q``/``v``; GPT-2's fused ``c_attn``.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError

FAMILIES: tuple[tuple[str, ...], ...] = (
    ("query", "value"),
    ("q_proj", "v_proj"),
    ("q", "v"),
    ("c_attn",),
)


def attention_targets(model: Any, requested: tuple[str, ...] = ()) -> list[str]:
    """Leaf names of the linear layers to adapt; `requested` must all exist."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
    if requested:
        missing = [name for name in requested if name not in leaves]
        if missing:
            raise HarnessError(
                f"strategy.target_modules: {missing[0]!r} is not a module of this model"
            )
        return list(requested)
    for family in FAMILIES:
        if all(name in leaves for name in family):
            return list(family)
    kind = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    raise HarnessError(
        f"no attention query/value projections found in a {kind} model; "
        "name them with --set strategy.target_modules=a,b"
    )


# causal LMs: every attention and MLP projection (Code2LoRA's targets on Qwen2.5-Coder)
CAUSAL_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"),
    ("c_attn", "c_proj", "c_fc"),
)


def causal_targets(model: Any, requested: tuple[str, ...] = ()) -> list[str]:
    """Leaf names to adapt in a causal LM: the attention and MLP projections by default."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
    if not requested:
        for family in CAUSAL_FAMILIES:
            if all(name in leaves for name in family):
                return list(family)
    return attention_targets(model, requested)


def trainable_share(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
