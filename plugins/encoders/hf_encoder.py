"""`HFEncoder`: any Hugging Face encoder as a harness `Encoder`.

Texts are tokenized once with truncation, sorted by token count and cut into
batches, run through the model under ``torch.inference_mode()``, pooled and
L2-normalised; rows come back in input order. A batch runs packed where the model
allows it (`packed`: the BERT family), one sequence of its real tokens with attention
text by text; else padded to its longest text (dynamic padding: after the sort a batch
holds texts of nearly one length).

Pooling (`pool`): sentence-transformers' modes by its names: ``mean`` over the
attention mask (as LoRACode does for all its encoders), ``cls`` (the first real
token), ``max``, ``lasttoken`` (the last real token, under left or right padding),
``weightedmean`` (token i of a text weighs i) and ``mean_sqrt_len_tokens``.

Prompts: a query is embedded as ``query prompt + text``, a candidate (role
``code``) as ``document prompt + text``. Each comes from ``--set
encoder.query_prompt=...`` / ``document_prompt``, else the factory's `prompts`
(a model card), else the model's own sentence-transformers config, else none.

A model in the sentence-transformers layout (``modules.json``: see `st_layout`)
is embedded as ``SentenceTransformer.encode_query`` / ``encode_document`` embed
it: its pooling mode (and whether the prompt is pooled), its ``max_seq_length``
and ``do_lower_case``, its prompts, its ``truncate_dim``. ``--pooling``, a
factory's `pooling` and the prompt options override the folder's; ``info``
records what the folder says (``st_layout``) and what was overridden.
Tokens per text (`_max_length`), never beyond the model's positions: --max-length when
it is given (it wins over the folder's, as setting sentence-transformers'
``max_seq_length`` does, and ``info["overridden"]`` says so); else the model's own: in
that layout the length sentence-transformers truncates at (``max_seq_length``, else
the tokenizer's limit: MiniLM 256, Qwen3-Embedding 8192 as its authors run it), else
`DEFAULT_MAX_LENGTH` (512, LoRACode's). ``info["max_length"]`` records the length used.
A model without that layout is pooled as sentence-transformers pools one: the last
token of a causal LM, else the mean (`plain_pooling`); its text goes in as it is
(sentence-transformers 6 renders it through the tokenizer's chat template, if any).

Scores: harness ranks by the dot product of the rows, and the rows are unit
length, so it ranks by cosine: sentence-transformers' default ``similarity``
(``similarity_fn_name`` "cosine"), and the same whether or not the model has a
Normalize module (which only makes rows unit length). A model that declares "dot"
without a Normalize module (or "manhattan") is ranked by cosine all the same:
``info["similarity"]`` says "cosine", ``info["model_similarity"]`` what the model
declares, and a warning says so.

The named encoders feed the text as is: UniXcoder's ``<encoder-only>`` mode
token and StarEncoder's added ``<cls>``/``<sep>`` markers are not inserted,
which matches LoRACode's mean-pooled setup. A tokenizer without a padding
token (StarEncoder's) pads with ``<pad>``, else its end or unknown token;
padding is masked out, so which one does not change the embeddings.

Precision (``EncoderOptions.dtype``): ``float32``, ``bfloat16`` or ``float16`` (the
model under autocast, the pooling in float32), or ``auto``: bfloat16 where the device
computes it natively (`harness.hardware.native_bf16`: CUDA, CPUs with AVX512-BF16 or
AMX), else float32. ``info["dtype"]`` records the dtype used, never ``auto``, so the
embedding cache's key (which holds ``info``) tells the two apart.

Options read from ``EncoderOptions.extra``: ``revision`` and ``cache_dir``
(hub ids), ``query_prompt`` and ``document_prompt``, ``padding``
(``"longest"``, the default, or ``"max_length"``, which also turns packing off),
``packing`` (``"auto"``, the default, or ``"off"``) and ``sort_by_length`` (default
True); the last three exist to measure what they save. Remote code
runs only with ``EncoderOptions.trust_remote_code``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.encoder import EncoderOptions, Role
from harness.errors import HarnessError
from harness.hardware import auto_dtype
from harness.plugins.encoders.hf_load import (
    evaluating,
    load_with,
    max_length_limit,
    model_file_fetch,
    resolve_device,
)
from harness.plugins.encoders.packed import packable, packed_hidden
from harness.plugins.encoders.pooling import pool
from harness.plugins.encoders.st_layout import (
    POOLING_MODES,
    ROLE_PROMPTS,
    STLayout,
    canonical_pooling,
    read_layout,
)
from harness.progress import console

POOLINGS = POOLING_MODES
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
PADDINGS = ("longest", "max_length")
PACKINGS = ("auto", "off")
DEFAULT_MAX_LENGTH = 512
"""Tokens per text of a model that states no length of its own (LoRACode's 512)."""
ROLE_PROMPT = {"query": "query", "code": "document"}
"""The prompt each harness role gets: a candidate is a document."""


class HFEncoder:
    """A Hugging Face encoder; ``.model`` may be replaced by a wrapped one (peft).

    `pooling` and `prompts` (``{"query": ..., "document": ...}``) are a factory's
    choice (a model card's); None leaves them to the model's sentence-transformers
    config, else `plain_pooling` and no prompts. ``--pooling`` and ``--set
    encoder.<role>_prompt`` win over both. `revision` is the hub revision to load
    unless ``--set encoder.revision`` names another.

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
        pooling: str | None = None,
        model_id: str | None = None,
        source: str | None = None,
        prompts: Mapping[str, str] | None = None,
        revision: str | None = None,
    ) -> None:
        options = options or EncoderOptions()
        extra = options.extra
        dtype = _choice("dtype", options.dtype, ("auto", *DTYPES))
        self.padding = _choice("padding", str(extra.get("padding", "longest")), PADDINGS)
        self.sort_by_length = bool(extra.get("sort_by_length", True))
        packing = _choice("packing", str(extra.get("packing", "auto")), PACKINGS)
        if options.batch_size < 1:
            raise HarnessError(f"batch size must be at least 1, got {options.batch_size}")
        if options.max_length is not None and options.max_length < 1:
            raise HarnessError(f"max length must be at least 1, got {options.max_length}")
        self.batch_size = options.batch_size
        self.device = resolve_device(options.device)
        self.dtype = auto_dtype(str(self.device)) if dtype == "auto" else dtype
        asked_pooling = options.pooling or pooling
        if asked_pooling is not None:
            asked_pooling = canonical_pooling(asked_pooling)
        asked_prompts = _asked_prompts(prompts, extra)

        revision = extra.get("revision") or revision
        layout = read_layout(model_file_fetch(reference, revision, extra.get("cache_dir")))
        loaded = load_with(
            reference,
            options,
            revision=revision,
            subfolder=layout.transformer_path if layout else "",
            tokenizer_kwargs=layout.tokenizer_kwargs if layout else None,
        )
        self.model: Any = loaded.model.to(self.device)
        self.tokenizer: Any = loaded.tokenizer
        pad_token = _ensure_pad_token(self.tokenizer)
        config = loaded.model.config
        if layout is not None and layout.do_lower_case:
            _lower_case(self.tokenizer)

        own = layout or STLayout(pooling=plain_pooling(config))
        self.pooling: str = asked_pooling or own.pooling
        self.prompts: dict[str, str] = {**own.role_prompts(), **asked_prompts}
        self.max_length = _max_length(options.max_length, config, self.tokenizer, layout)
        self.max_length_given = options.max_length is not None
        self.prompt_length = {
            role: self._prompt_tokens(text) if layout and not layout.include_prompt else 0
            for role, text in self.prompts.items()
        }
        self.truncate_dim = own.truncate_dim
        self.name = name or f"hf:{reference}"
        width = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
        self.dim = self.truncate_dim or width * len(self.pooling.split("+"))
        self.info: dict[str, Any] = {
            **loaded.provenance(
                reference, extra, model_id=model_id, source=source, revision=revision
            ),
            "pooling": self.pooling,
            "prompts": dict(self.prompts),
            "max_length": self.max_length,
            "device": str(self.device),
            "dtype": self.dtype,
            "normalize": True,
            "similarity": "cosine",
            "dim": self.dim,
        }
        # packing leaves out padded tokens only; asked-for padding to max_length keeps them
        self.packed = packing == "auto" and self.padding == "longest" and packable(self.model)
        if pad_token is not None:
            self.info["pad_token_added"] = pad_token
        if layout is not None:
            self.info.update(_layout_info(layout, self, asked_pooling, asked_prompts))

    def tokenize(self, texts: Sequence[str], *, role: Role | None = None) -> dict[str, Any]:
        """Tokenize one batch (truncated, padded) onto the encoder's device; with a `role`,
        each text after that role's prompt (which `forward` then needs the same `role`)."""
        batch = self.tokenizer(
            self.prompted(texts, role),
            padding=self.padding,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    def prompted(self, texts: Sequence[str], role: Role | None) -> list[str]:
        """`texts` as the model reads them in `role`: after its prompt (None: as they are)."""
        prompt = self.prompts[ROLE_PROMPT[role]] if role is not None else ""
        return [prompt + text for text in texts] if prompt else list(texts)

    def forward(self, batch: dict[str, torch.Tensor], *, role: Role | None = None) -> torch.Tensor:
        """Pooled, L2-normalised float32 embeddings of a tokenized batch (`role`: the one it
        was tokenized for, which decides the prompt tokens a pooling may leave out).

        Differentiable (no inference mode here), so a training strategy can
        call it on ``tokenize(texts)`` with the model in train mode.
        """
        with self._autocast():
            hidden = self.model(**batch).last_hidden_state
        return self._pooled(hidden, batch["attention_mask"], role)

    def _pooled(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, role: Role | None
    ) -> torch.Tensor:
        prompt_length = self.prompt_length[ROLE_PROMPT[role]] if role is not None else 0
        pooled = pool(hidden.float(), attention_mask, self.pooling, prompt_length=prompt_length)
        if self.truncate_dim:
            pooled = pooled[:, : self.truncate_dim]
        return F.normalize(pooled, p=2, dim=-1)

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray:
        """Embed `texts` as ``(len(texts), dim)`` unit rows, each after `role`'s prompt."""
        embeddings = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 0:
            return embeddings
        tokens = self._token_ids(self.prompted(texts, role))
        # a text with no token at all (empty, and a tokenizer that adds none) has nothing to
        # pool: it stays a zero row, which the model could not even be run on alone
        order = [i for i in self._order(tokens) if tokens["input_ids"][i]]
        with evaluating(self.model, description, len(texts), "texts") as advance:
            advance(len(texts) - len(order))
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                embeddings[rows] = self._embedded(tokens, rows, role).cpu().numpy()
                advance(len(rows))
        return embeddings

    def _embedded(
        self, tokens: dict[str, list[list[int]]], rows: list[int], role: Role
    ) -> torch.Tensor:
        """The embeddings of texts `rows`: run packed (no padded token) where the model
        allows it (`packed.packable`), else as one padded batch."""
        if not self.packed:
            batch = self._padded({key: [ids[i] for i in rows] for key, ids in tokens.items()})
            return self.forward(batch, role=role)
        types = tokens.get("token_type_ids")
        with self._autocast():
            hidden, mask = packed_hidden(
                self.model,
                [tokens["input_ids"][i] for i in rows],
                [types[i] for i in rows] if types is not None else None,
            )
        return self._pooled(hidden, mask, role)

    def order(self, texts: Sequence[str], *, role: Role = "code") -> list[int]:
        """The order `encode` embeds `texts` in: by token count, longest first (stable),
        so a batch holds texts of nearly one length and pads little; input order when
        ``sort_by_length`` is off. Distributed encoding cuts its batches from it."""
        return self._order(self._token_ids(self.prompted(texts, role)))

    def _token_ids(self, texts: Sequence[str]) -> dict[str, list[list[int]]]:
        """Every text tokenized once, truncated, unpadded."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return {key: list(values) for key, values in encoded.items()}

    def _prompt_tokens(self, prompt: str) -> int:
        """How many leading tokens of a text are its prompt: the prompt tokenized alone,
        less a closing special token (sentence-transformers' count)."""
        if not prompt:
            return 0
        ids = self._token_ids([prompt])["input_ids"][0]
        closing = bool(ids) and ids[-1] in set(self.tokenizer.all_special_ids)
        return len(ids) - int(closing)

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


def plain_pooling(config: Any) -> str:
    """The pooling of a model without the sentence-transformers layout, as
    sentence-transformers picks it: the last token of a causal LM (unless its config says
    it is not causal), else the mean."""
    architectures = getattr(config, "architectures", None) or [""]
    causal = architectures[0].endswith("ForCausalLM") and getattr(config, "is_causal", True)
    return "lasttoken" if causal else "mean"


def _asked_prompts(prompts: Mapping[str, str] | None, extra: Mapping[str, Any]) -> dict[str, str]:
    """The prompts asked for, by role prompt name: ``--set encoder.<role>_prompt`` over the
    factory's `prompts`; a role asked for by neither is absent."""
    asked = dict(prompts or {})
    unknown = sorted(set(asked) - set(ROLE_PROMPTS))
    if unknown:
        raise HarnessError(f"prompts for {unknown}: the roles are {', '.join(ROLE_PROMPTS)}")
    for role in ROLE_PROMPTS:
        given = extra.get(f"{role}_prompt")
        if given is not None:
            asked[role] = given
    for role, text in asked.items():
        if not isinstance(text, str):
            raise HarnessError(
                f"encoder.{role}_prompt must be text, got {text!r} (quote it: '\"{text}\"')"
            )
    return asked


def _max_length(asked: int | None, config: Any, tokenizer: Any, layout: STLayout | None) -> int:
    """Tokens per text, capped by what the model can take (its positions): the asked
    --max-length when given (it wins over a folder's own, as setting sentence-transformers'
    ``max_seq_length`` does); else the model's own: in the sentence-transformers layout the
    length sentence-transformers truncates at (``max_seq_length``, else the tokenizer's
    limit), else `DEFAULT_MAX_LENGTH`."""
    caps = [DEFAULT_MAX_LENGTH if asked is None else asked]
    if asked is None and layout is not None:
        tokenizer_limit = getattr(tokenizer, "model_max_length", None)
        if layout.max_seq_length is not None:
            caps = [layout.max_seq_length]
        elif isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000_000:
            caps = [tokenizer_limit]
    limit = max_length_limit(config, tokenizer)
    if limit:
        caps.append(limit)
    return min(caps)


def _layout_info(
    layout: STLayout, encoder: HFEncoder, pooling: str | None, prompts: Mapping[str, str]
) -> dict[str, Any]:
    """What a sentence-transformers folder says, what harness overrode of it, and how it
    scores; warns where harness does not do what the folder says."""
    declared = layout.declared()
    overridden = []
    if pooling is not None and pooling != layout.pooling:
        overridden.append("pooling")
    overridden += [f"prompts.{role}" for role, text in prompts.items()
                   if text != declared["prompts"][role]]  # fmt: skip
    if encoder.max_length_given and encoder.max_length != layout.max_seq_length:
        overridden.append("max_seq_length")
    info: dict[str, Any] = {"layout": "sentence-transformers", "st_layout": declared}
    if overridden:
        info["overridden"] = overridden
    notes = []
    if layout.unused_prompts():
        notes.append(
            f"its prompts {layout.unused_prompts()} are used by neither encode_query nor "
            "encode_document (sentence-transformers' rule; harness follows it): set "
            "encoder.query_prompt / encoder.document_prompt to use one"
        )
    similarity = layout.similarity_fn_name or "cosine"
    same_ranking = {"cosine"} | ({"dot", "euclidean"} if layout.normalize else set())
    if similarity not in same_ranking:
        info["model_similarity"] = similarity
        notes.append(f"it declares similarity {similarity!r}; harness ranks by cosine")
    for note in notes:
        console().print(f"[yellow]warning:[/] {encoder.name}: {note}")
    return info


def build_hf(argument: str | None, options: EncoderOptions) -> Any:
    """``hf:<id-or-path>``: a hub id (cache first) or a local model folder, as an embedding
    encoder (a task that needs a causal LM gets the ``hf:`` its own plugin registers)."""
    if not argument or not argument.strip():
        raise HarnessError("hf: needs a hub id or a path, e.g. hf:microsoft/codebert-base")
    return HFEncoder(argument, options, name=f"hf:{argument}")


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


def _lower_case(tokenizer: Any) -> None:
    """Lower-case text before tokenizing, as sentence-transformers does for a folder
    with ``do_lower_case``: a Lowercase normalizer first in the fast tokenizer."""
    from tokenizers import normalizers

    if not getattr(tokenizer, "is_fast", False):  # a Python tokenizer lower-cases itself
        tokenizer.do_lower_case = True
        return
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is None:
        tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()
    elif "Lowercase" not in repr(normalizer):
        steps = [normalizers.Lowercase(), normalizer]
        tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(steps)
