"""Registers the Hugging Face encoders; importing this never imports torch.

Targets are lazy ``module:function`` strings, loaded only when a run uses
the encoder; `named` describes the named encoders, `hf_encoder` holds the
encoder, `hf_load` the loading.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.options import Option
from harness.plugins.encoders.cards import card_summary
from harness.plugins.encoders.named import NAMED_MODELS

_MODULE = "harness.plugins.encoders.hf_encoder"
_CARDS = "harness.plugins.encoders.card_encoder"

# what `--set encoder.*` accepts (harness.options); padding and the length sort change how
# texts are batched, never an embedding (tests/test_option_identity.py checks the scores)
OPTIONS = (
    Option("revision", None, "the hub revision (branch, tag or commit) to load"),
    Option("cache_dir", None, "where the hub download is cached", affects_results=False),
    Option("padding", "longest", "longest or max_length", affects_results=False),
    Option("sort_by_length", True, "batch texts of similar length", affects_results=False),
    Option("packing", "auto", "auto (BERT family: no padded token) or off", affects_results=False),
    Option("query_prompt", None, "text put before every query (default: the model's own)"),
    Option("document_prompt", None, "text put before every candidate (default: the model's own)"),
)


@hookimpl
def harness_register_encoders(register: Any) -> None:
    """One encoder per model card (`named`: the LoRACode five, mean-pooled as LoRACode
    runs them, and the others as their authors do) and the ``hf:`` prefix.

    They are embedding encoders (``kind="encoder"``), so a completion task refuses the
    named ones before any data is read, and gets the ``hf:`` a causal-LM plugin registers.
    """
    for name, card in NAMED_MODELS.items():
        register(
            name,
            f"{_CARDS}:build_{name}",
            card_summary(card),
            hub_id=card.hub_id,
            pooling=card.pooling or "the folder's",
            kind="encoder",
            options=OPTIONS,
            remote_code=card.remote_code,  # refused without --trust-remote-code, up front
        )
    register(
        "hf:",
        f"{_MODULE}:build_hf",
        "any Hugging Face encoder by hub id or local path: hf:<id-or-path> (a "
        "sentence-transformers folder as sentence-transformers embeds it)",
        kind="encoder",
        pooling="the folder's, else lasttoken for a causal LM, else mean",
        options=OPTIONS,
    )


@hookimpl
def harness_register_commands(cli: Any) -> None:
    """``harness models``: the model cards (`commands`)."""
    from harness.plugins.encoders.commands import add_models_command

    add_models_command(cli)
