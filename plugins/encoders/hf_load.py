"""Finding and loading a Hugging Face model and tokenizer, offline first.

A reference is a local folder (anything that exists, or looks like a path)
or a hub id (``name`` or ``org/name``). Hub ids are looked up in the local
cache first, so a cached model loads without touching the network; only a
cache miss goes online, and in offline mode (``HF_HUB_OFFLINE=1``) a miss
is a one-line `HarnessError` that says how to point at a local copy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import huggingface_hub
import torch
from transformers import AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.utils import logging as transformers_logging

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.progress import console, progress_bar

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TRUTHY = {"1", "on", "yes", "true"}
# Models whose position ids start after the padding index (RoBERTa and its kin):
# 514 position embeddings hold 512 tokens.
_POSITION_OFFSET_MODEL_TYPES = {
    "roberta",
    "roberta-prelayernorm",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "data2vec-text",
    "longformer",
    "mpnet",
    "xmod",
}


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode, its tokenizer, and where they came from."""

    model: PreTrainedModel
    tokenizer: Any
    source: str  # "local" or "hub"
    commit: str | None  # the hub snapshot's commit hash, when loaded from the hub cache

    def provenance(
        self,
        reference: str,
        extra: Mapping[str, Any],
        *,
        model_id: str | None = None,
        source: str | None = None,
        revision: str | None = None,
    ) -> dict[str, Any]:
        """The first keys of a model's ``info``: which model, from where, at which revision
        asked for (`revision`, else ``--set encoder.revision``) and commit found (`model_id`
        and `source` name a model shipped in a package's folder)."""
        return {
            "model": model_id or reference,
            "source": source or self.source,
            "revision": revision or extra.get("revision"),
            "commit": self.commit,
            "model_type": getattr(self.model.config, "model_type", None),
        }


def is_local_reference(reference: str) -> bool:
    """True for a folder reference: it exists, or it cannot be a hub id.

    >>> is_local_reference("microsoft/codebert-base"), is_local_reference("./models/x")
    (False, True)
    """
    if Path(reference).expanduser().exists():
        return True
    return reference.startswith((".", "~", "/")) or not _HUB_ID.match(reference)


def hub_offline() -> bool:
    """Offline mode, read at call time (huggingface_hub reads it once at import)."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUTHY:
            return True
    return bool(huggingface_hub.is_offline_mode())


def load_model(
    reference: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    trust_remote_code: bool = False,
    auto_class: Any = None,
    subfolder: str = "",
    tokenizer_kwargs: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """Load tokenizer and float32 model from a local folder or a hub id.

    `auto_class` is the transformers class that loads the model (default
    ``AutoModel``; the causal LMs pass ``AutoModelForCausalLM``); `subfolder` is where
    in the folder or repository the model is (a sentence-transformers module's path);
    `tokenizer_kwargs` go to ``AutoTokenizer.from_pretrained``.
    """
    auto_class = auto_class or AutoModel
    if is_local_reference(reference):
        folder = _checked_folder(str(Path(reference).expanduser() / subfolder))
        try:
            model, tokenizer = _load(
                str(folder), True, None, None, trust_remote_code, auto_class,
                tokenizer_kwargs=tokenizer_kwargs,
            )  # fmt: skip
        except (OSError, ValueError) as exc:
            raise HarnessError(f"could not load the model in {folder}: {_first_line(exc)}") from exc
        return LoadedModel(model, tokenizer, "local", None)
    try:
        model, tokenizer = _load(
            reference, True, revision, cache_dir, trust_remote_code, auto_class,
            subfolder=subfolder, tokenizer_kwargs=tokenizer_kwargs,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        if hub_offline():
            reason = "offline mode (HF_HUB_OFFLINE) is on"
            raise HarnessError(_not_found(reference, reason)) from exc
        _probe_hub(reference, revision)
        try:
            model, tokenizer = _load(
                reference, False, revision, cache_dir, trust_remote_code, auto_class,
                subfolder=subfolder, tokenizer_kwargs=tokenizer_kwargs,
            )  # fmt: skip
        except (OSError, ValueError) as online_exc:
            raise HarnessError(_not_found(reference, _first_line(online_exc))) from online_exc
    commit = _cached_commit(reference, revision, cache_dir, subfolder)
    return LoadedModel(model, tokenizer, "hub", commit)


def load_with(
    reference: str,
    options: EncoderOptions,
    auto_class: Any = None,
    *,
    revision: str | None = None,
    subfolder: str = "",
    tokenizer_kwargs: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """`load_model` with what every Hugging Face model reads from ``--set encoder.*``
    (``revision``, which wins over the `revision` given here, and ``cache_dir``) and the
    run's --trust-remote-code (only ``True`` turns it on; ``--set`` never does)."""
    return load_model(
        reference,
        revision=options.extra.get("revision") or revision,
        cache_dir=options.extra.get("cache_dir"),
        trust_remote_code=options.trust_remote_code is True,
        auto_class=auto_class,
        subfolder=subfolder,
        tokenizer_kwargs=tokenizer_kwargs,
    )


def model_file_fetch(
    reference: str, revision: str | None, cache_dir: str | None
) -> Callable[[str], Path | None]:
    """A reader of single files of a model by their path in its folder or hub repository
    (``modules.json``): a local path, or None when the model has no such file.

    A hub file comes from the local cache when it is there (or is known to be missing);
    otherwise it is downloaded, unless offline mode is on (then: None, with a warning: a
    model cached before harness read this file is taken not to have it). A hub that
    cannot be reached is a one-line `HarnessError`, as for the model itself.
    """
    if is_local_reference(reference):
        folder = Path(reference).expanduser()
        return lambda name: folder / name if (folder / name).is_file() else None

    def fetch(name: str) -> Path | None:
        found = huggingface_hub.try_to_load_from_cache(
            reference, name, cache_dir=cache_dir, revision=revision
        )
        if isinstance(found, str):
            return Path(found)
        if found is not None:  # known to be missing
            return None
        if hub_offline():  # a cache filled before harness asked for this file cannot tell
            console().print(
                f"[yellow]warning:[/] offline, and the hub cache does not say whether "
                f"{reference} has {name}: going on without it"
            )
            return None
        try:
            path = huggingface_hub.hf_hub_download(
                reference, name, revision=revision, cache_dir=cache_dir
            )
        except huggingface_hub.errors.EntryNotFoundError:
            return None
        except Exception as exc:  # unreachable, unknown repo, gated, bad revision
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            raise HarnessError(_not_found(reference, reason)) from exc
        return Path(path)

    return fetch


@contextmanager
def evaluating(
    model: Any, description: str, total: int, unit: str
) -> Iterator[Callable[[int], None]]:
    """`model` in eval mode under ``torch.inference_mode``, with a progress bar (the
    function it yields advances it); the model's training mode is restored after, so an
    evaluation in the middle of training leaves dropout as it was."""
    was_training = bool(model.training)
    model.eval()
    try:
        with torch.inference_mode(), progress_bar(description, total=total, unit=unit) as advance:
            yield advance
    finally:
        model.train(was_training)


def resolve_device(spec: str) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as torch reads it."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise HarnessError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"device {spec!r} was asked for but CUDA is not available here")
    return device


def max_length_limit(config: PretrainedConfig, tokenizer: Any) -> int | None:
    """The most tokens the model can take, from its position embeddings.

    RoBERTa-like models lose ``pad_token_id + 1`` positions to their offset;
    without position embeddings the tokenizer's own limit is used, if set.
    """
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        return positions - position_offset(config)
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None


def position_offset(config: PretrainedConfig) -> int:
    """The position id of a text's first token: ``pad_token_id + 1`` in the RoBERTa
    family, 0 elsewhere."""
    if getattr(config, "model_type", "") in _POSITION_OFFSET_MODEL_TYPES:
        return int(getattr(config, "pad_token_id", None) or 0) + 1
    return 0


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def _checked_folder(reference: str) -> Path:
    """`reference` as a saved model folder; the first thing it lacks is a HarnessError."""
    folder = Path(reference).expanduser()
    needs = (
        (folder.exists, "does not exist"),
        (folder.is_dir, "is not a folder (expected a saved model folder)"),
        ((folder / "config.json").is_file,
         "has no config.json (expected a Hugging Face model written by save_pretrained)"),
    )  # fmt: skip
    for holds, problem in needs:
        if not holds():
            what = "model folder" if folder.is_dir() else "model path"
            raise HarnessError(f"{what} {folder} {problem}")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles and not any(folder.glob("*.safetensors")):
        raise HarnessError(
            f"model folder {folder} has only pickle weights ({', '.join(pickles)}); harness "
            "loads only safetensors (a pickle can run code): where you trust the files, load "
            "them with transformers and save_pretrained(..., safe_serialization=True)"
        )
    return folder


def _load(
    name: str,
    local_files_only: bool,
    revision: str | None,
    cache_dir: str | None,
    trust_remote_code: bool,
    auto_class: Any = AutoModel,
    subfolder: str = "",
    tokenizer_kwargs: Mapping[str, Any] | None = None,
) -> tuple[PreTrainedModel, Any]:
    common: dict[str, Any] = {
        "local_files_only": local_files_only,
        "trust_remote_code": trust_remote_code,
    }
    if revision:
        common["revision"] = revision
    if cache_dir:
        common["cache_dir"] = cache_dir
    if subfolder:
        common["subfolder"] = subfolder
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(name, **{**(tokenizer_kwargs or {}), **common})
        # float32 on purpose: reduced precision is autocast's job. adapter_kwargs: transformers
        # probes the hub for adapter_config.json without local_files_only and cache_dir
        # (5 retries, ~25 s, when the hub is unreachable) unless they are passed again here.
        adapter_kwargs = {
            key: common[key] for key in ("local_files_only", "cache_dir") if key in common
        }
        model = auto_class.from_pretrained(
            name, dtype=torch.float32, adapter_kwargs=adapter_kwargs, **common
        )
    model.eval()
    return model, tokenizer


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" bar from transformers; the harness has its own."""
    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def _probe_hub(repo_id: str, revision: str | None) -> None:
    """Fail in a second, not after transformers' minute of retries, when the hub is out of reach.

    One metadata request through huggingface_hub's own client (same proxies and
    token as the download would use), no retries.
    """
    url = huggingface_hub.hf_hub_url(repo_id, "config.json", revision=revision)
    try:
        huggingface_hub.get_hf_file_metadata(url, timeout=10)
    except Exception as exc:  # unreachable, unknown repo, gated, bad revision: all end here
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
        raise HarnessError(_not_found(repo_id, reason)) from exc


def _cached_commit(
    repo_id: str, revision: str | None, cache_dir: str | None, subfolder: str = ""
) -> str | None:
    config = f"{subfolder}/config.json" if subfolder else "config.json"
    found = huggingface_hub.try_to_load_from_cache(
        repo_id, config, cache_dir=cache_dir, revision=revision
    )
    if not isinstance(found, str):
        return None
    snapshot = Path(found).parent
    return (snapshot.parent if subfolder else snapshot).name


def _not_found(repo_id: str, reason: str) -> str:
    return (
        f"model {repo_id!r} could not be downloaded from the Hugging Face hub and is not in the "
        f"local cache ({reason}); point at a local copy with --model hf:/path/to/local/copy, "
        "or put it in the HF_HOME cache"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
