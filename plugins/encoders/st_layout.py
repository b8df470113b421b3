"""The sentence-transformers layout of a model, read as sentence-transformers reads it.

A model in this layout lists its modules in ``modules.json``, in order: a
``Transformer`` (the Hugging Face model at the module's path, with its
``sentence_bert_config.json``: ``max_seq_length``, ``do_lower_case``), a
``Pooling`` module (``<path>/config.json``: the pooling mode) and optionally a
``Normalize`` module. ``config_sentence_transformers.json`` holds the named
prompts, ``similarity_fn_name`` and ``truncate_dim``. harness reads these files
itself (no sentence-transformers at run time) and embeds with the same arithmetic
(`harness.plugins.encoders.hf_encoder.pool`); tests/test_st_layout.py checks the
embeddings against ``SentenceTransformer.encode_query`` / ``encode_document``.

Which prompt a role gets follows sentence-transformers (6.x) exactly: its model
starts from the prompts ``{"query": "", "document": ""}`` and lays the saved ones
over them; ``encode_query`` then uses ``prompts["query"]`` and ``encode_document``
the first of ``document``, ``passage``, ``corpus`` present, which is always
``document``. So a folder that saves only a ``passage`` prompt gets no document
prompt there, nor here (`STLayout.unused_prompts` names it, the encoder warns),
and ``default_prompt_name`` never applies to either role.

>>> layout = read_layout(lambda name: None)  # no modules.json: not this layout
>>> layout is None
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InputError

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
"""sentence-transformers' Pooling modes, by its names (harness uses the same)."""
POOLING_ALIASES = {"last": "lasttoken"}
"""Other spellings ``--pooling`` accepts."""
LEGACY_POOLING_KEYS = (
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)
"""Pooling configs written before ``pooling_mode``: one flag per mode, concatenated in this
order when several are on (none on: mean)."""
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")
ROLE_PROMPTS = ("query", "document")
"""The prompt names harness's roles use (``query`` and ``code``, which is a document)."""
SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
_MODULES = ("Transformer", "Pooling", "Normalize")
_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
"""The Transformer module's config, under each name sentence-transformers still reads."""
_IGNORED_MODEL_KWARGS = {"torch_dtype", "dtype", "attn_implementation", "trust_remote_code"}
"""``model_args`` that choose how fast or in what precision, not what: harness decides
those (--dtype), and remote code only with --trust-remote-code."""

Fetch = Callable[[str], "Path | None"]
"""A file of the model by its path in the folder or repository (``1_Pooling/config.json``),
as a local path, or None when the model has no such file."""


@dataclass(frozen=True)
class STLayout:
    """What a sentence-transformers model folder says about embedding with it."""

    transformer_path: str = ""  # the Hugging Face model's subfolder ("" for the root)
    pooling: str = "mean"  # a mode of POOLING_MODES, or several joined by "+" (concatenated)
    include_prompt: bool = True  # False: prompt tokens are left out of the pooling
    normalize: bool = False  # a Normalize module follows the pooling
    max_seq_length: int | None = None
    do_lower_case: bool = False
    tokenizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prompts: Mapping[str, str] = field(default_factory=dict)  # as saved, by name
    similarity_fn_name: str | None = None
    truncate_dim: int | None = None

    def role_prompts(self) -> dict[str, str]:
        """The prompt ``encode_query`` (``query``) and ``encode_document`` (``document``) use.

        >>> STLayout(prompts={"query": "q: ", "passage": "p: "}).role_prompts()
        {'query': 'q: ', 'document': ''}
        """
        merged = {"query": "", "document": "", **self.prompts}
        document = next(merged[name] for name in DOCUMENT_PROMPT_NAMES if name in merged)
        return {"query": merged["query"], "document": document}

    def unused_prompts(self) -> list[str]:
        """Saved non-empty prompts neither role uses (``passage`` beside an empty
        ``document``, task prompts a caller would name): worth a warning."""
        return sorted(n for n, text in self.prompts.items() if text and n not in ROLE_PROMPTS)

    def declared(self) -> dict[str, Any]:
        """The folder's own settings, as recorded in an encoder's ``info``."""
        return {
            "pooling": self.pooling,
            "include_prompt": self.include_prompt,
            "normalize": self.normalize,
            "max_seq_length": self.max_seq_length,
            "do_lower_case": self.do_lower_case,
            "prompts": self.role_prompts(),
            "similarity_fn_name": self.similarity_fn_name,
            "truncate_dim": self.truncate_dim,
        }


def canonical_pooling(name: str) -> str:
    """A pooling name as harness records it: sentence-transformers' name for each mode
    (``last`` is ``lasttoken``), several joined by ``+``.

    >>> canonical_pooling("last"), canonical_pooling("cls+mean")
    ('lasttoken', 'cls+mean')
    """
    modes = [POOLING_ALIASES.get(mode.strip(), mode.strip()) for mode in name.split("+")]
    for mode in modes:
        if mode not in POOLING_MODES:
            spelled = ", ".join([*POOLING_MODES, *POOLING_ALIASES])
            raise HarnessError(f"unknown pooling {mode!r} (use one of: {spelled})")
    return "+".join(modes)


def read_layout(fetch: Fetch) -> STLayout | None:
    """The layout of the model `fetch` reads files from; None without ``modules.json``."""
    modules_file = fetch("modules.json")
    if modules_file is None:
        return None
    modules = _json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise InputError("expected a list of modules", path=modules_file)
    kinds = [_module_kind(module, modules_file) for module in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise InputError(
            f"modules {kinds}: harness embeds a Transformer, a Pooling and an optional "
            "Normalize module, in that order",
            path=modules_file,
        )
    transformer_path = str(modules[0].get("path", "")).strip("/")
    pooling, include_prompt = _pooling(fetch, str(modules[1].get("path", "")).strip("/"))
    transformer = _transformer_config(fetch, transformer_path)
    model_file = fetch("config_sentence_transformers.json")
    model = _json_object(model_file) if model_file is not None else {}
    return STLayout(
        transformer_path=transformer_path,
        pooling=pooling,
        include_prompt=include_prompt,
        normalize=len(kinds) == 3,
        max_seq_length=transformer.get("max_seq_length"),
        do_lower_case=bool(transformer.get("do_lower_case", False)),
        tokenizer_kwargs=transformer.get("tokenizer_kwargs", {}),
        prompts=_prompts(model, model_file),
        similarity_fn_name=_similarity(model, model_file),
        truncate_dim=_positive_int_or_none(model.get("truncate_dim"), "truncate_dim", model_file),
    )


def _module_kind(module: dict[str, Any], where: Path) -> str:
    kind = str(module.get("type", ""))
    name = kind.rsplit(".", 1)[-1]
    if not kind.startswith("sentence_transformers.") or name not in _MODULES:
        raise InputError(
            f"module {module.get('idx', '?')} is {kind or 'untyped'}; harness embeds only "
            "sentence-transformers' Transformer, Pooling and Normalize modules",
            path=where,
        )
    return name


def _pooling(fetch: Fetch, path: str) -> tuple[str, bool]:
    name = f"{path}/config.json" if path else "config.json"
    where = fetch(name)
    if where is None:
        raise HarnessError(f"the model's Pooling module has no {name}")
    config = _json_object(where)
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [m for key, m in LEGACY_POOLING_KEYS if config.get(key)] or ["mean"]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    if not modes or not all(isinstance(m, str) and m in POOLING_MODES for m in modes):
        raise InputError(
            f"pooling_mode {mode!r}: expected one or more of {', '.join(POOLING_MODES)}",
            path=where,
        )
    return "+".join(modes), bool(config.get("include_prompt", True))


def _transformer_config(fetch: Fetch, path: str) -> dict[str, Any]:
    """The Transformer module's settings harness honours; a setting that would change
    the embeddings in a way harness does not reproduce is an error naming it."""
    prefix = f"{path}/" if path else ""
    where = next((f for n in _TRANSFORMER_CONFIGS if (f := fetch(prefix + n)) is not None), None)
    if where is None:
        return {}
    config = _json_object(where)
    task = config.get("transformer_task", "feature-extraction")
    modalities = config.get("modality_config", {"text": {}})
    processing = config.get("processing_kwargs") or {}
    model_kwargs = dict(config.get("model_kwargs") or config.get("model_args") or {})
    config_kwargs = dict(config.get("config_kwargs") or config.get("config_args") or {})
    unsupported = [
        (task != "feature-extraction", f"transformer_task {task!r}"),
        (set(modalities) != {"text"}, f"modality_config {sorted(modalities)} (text only here)"),
        (bool(processing), f"processing_kwargs {processing}"),
        (bool(set(model_kwargs) - _IGNORED_MODEL_KWARGS), f"model_kwargs {model_kwargs}"),
        (bool(set(config_kwargs) - {"trust_remote_code"}), f"config_kwargs {config_kwargs}"),
        (config.get("query_length") is not None, "query_length"),
        (config.get("document_length") is not None, "document_length"),
        (config.get("tokenizer_name_or_path") not in (None, ""), "tokenizer_name_or_path"),
    ]
    for holds, what in unsupported:
        if holds:
            raise InputError(f"{what} is not supported by harness", path=where)
    tokenizer_kwargs = dict(config.get("processor_kwargs") or config.get("tokenizer_args") or {})
    tokenizer_kwargs.pop("trust_remote_code", None)  # as sentence-transformers: never from a file
    # a model_max_length given to the tokenizer wins over max_seq_length, as it does there
    length = tokenizer_kwargs.get("model_max_length", config.get("max_seq_length"))
    return {
        "max_seq_length": _positive_int_or_none(length, "max_seq_length", where),
        "do_lower_case": config.get("do_lower_case", False),
        "tokenizer_kwargs": tokenizer_kwargs,
    }


def _prompts(config: dict[str, Any], where: Path | None) -> dict[str, str]:
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(text, str | None) for text in prompts.values()
    ):
        raise InputError("prompts: expected an object of name: text", path=where)
    return {str(name): text or "" for name, text in prompts.items()}


def _similarity(config: dict[str, Any], where: Path | None) -> str | None:
    name = config.get("similarity_fn_name")
    if name is not None and name not in SIMILARITIES:
        raise InputError(
            f"similarity_fn_name {name!r}: expected one of {', '.join(SIMILARITIES)}", path=where
        )
    return name


def _positive_int_or_none(value: Any, key: str, where: Path | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{key} {value!r}: expected a positive whole number", path=where)
    return value


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not readable JSON ({exc})", path=path) from exc


def _json_object(path: Path) -> dict[str, Any]:
    found = _json(path)
    if not isinstance(found, dict):
        raise InputError("expected a JSON object", path=path)
    return found
