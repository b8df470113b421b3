"""`tiny-code-lm`: a small Qwen2 causal LM pretrained here, cached by what determines it.

Architecture: Qwen2 (`Qwen2ForCausalLM`) with hidden size 256, 4 layers, 4
attention heads over 2 key/value heads, MLP 688, tied embeddings, a 8192-token
byte-level BPE trained on the same corpus; its projections are named like
Qwen2.5-Coder's (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``, ``gate_proj``,
``up_proj``, ``down_proj``), so Code2LoRA's LoRA targets apply unchanged.
The corpus (`corpus`) is this machine's non-test Python; `pretrain` trains.

Measured with the defaults here (1024 positions): 5,001,472 parameters;
15,320 non-test ``.py`` files listed, 335 read for training (1.52M tokens)
and 27 held out; 1.23M tokens seen (300 steps of 4 x 1024); held-out
perplexity 98.1 per token (2.48 bits per byte), training loss 9.04 -> 5.14;
24 min of wall time on 2 cores shared with other jobs (load average 8.3),
sized for ~11 min idle (docs/pretraining.md).

Cache: ``<cache_dir>/models/tiny-code-lm/<key>/`` (``save_pretrained``
files and ``meta.json``), key = a hash of the architecture, the training
settings, the seed and the corpus identity (each source's name, version and
file count; `tiny_settings`). Work in progress (tokenizer, token arrays, checkpoints) lives
in ``.work/<key>/`` and the finished folder is moved into place in one rename.

Options read from ``EncoderOptions.extra``: ``path`` (a pretrained copy to
load instead; also ``$HARNESS_TINY_CODE_LM``) and the
pretraining settings ``steps``, ``seq_len``, ``pretrain_batch_size``,
``pretrain_seed`` and ``corpus`` (folders; default: stdlib and packages). It is
cached under ``EncoderOptions.cache_dir`` (the run's --cache-dir; default
``$HARNESS_CACHE_DIR`` or ``~/.cache/harness``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.hardware import resolve_precision
from harness.plugins.causal_lm.tiny_settings import (
    NAME,
    Identity,
    PretrainSettings,
    identity,
    models_root,
    preset_settings,
    read_meta,
)

PATH_VARIABLE = "HARNESS_TINY_CODE_LM"
# measured with the defaults on this machine's 2 CPU cores (README); scales the estimate
# printed before pretraining on first use
MEASURED_TOKENS_PER_SECOND_2_CORES = 1950.0  # float32, 8 x 1024 tokens a step


def find_pretrained(cache_dir: Path, ident: Identity) -> tuple[Path, dict[str, Any]] | None:
    """The cached model for `ident`; else the newest one with the same settings trained
    on an earlier state of the corpus (packages installed or upgraded since); else None."""
    root = models_root(cache_dir)
    meta = read_meta(root / ident.key)
    if meta is not None:
        return root / ident.key, meta
    earlier = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        found = None if folder.name.startswith(".") else read_meta(folder)
        if found and found.get("settings_key") == ident.settings_key:
            earlier.append((str(found.get("created", "")), folder, found))
    if not earlier:
        return None
    _, folder, found = max(earlier, key=lambda item: item[0])
    return folder, found


def settings_from_extra(extra: dict[str, Any]) -> PretrainSettings:
    """Pretraining settings named in ``EncoderOptions.extra`` (``--set encoder.steps=...``)."""
    names = {"steps": "steps", "seq_len": "seq_len", "pretrain_batch_size": "batch_size",
             "pretrain_seed": "seed"}  # fmt: skip
    base = preset_settings(str(extra.get("preset", "default")))
    changes: dict[str, Any] = {}
    for option, name in names.items():
        if option in extra:
            try:
                changes[name] = int(extra[option])
            except (TypeError, ValueError) as exc:
                raise HarnessError(f"{NAME}: {option} must be an integer") from exc
    corpus = extra.get("corpus")
    if corpus:
        changes["corpus"] = tuple(str(c) for c in ([corpus] if isinstance(corpus, str) else corpus))
    if "pretrain_precision" in extra:
        changes["precision"] = str(extra["pretrain_precision"])
    return replace(base, **changes)


def estimate_minutes(settings: PretrainSettings, device: str) -> str:
    """A rough duration for the pretraining, from the throughput measured here."""
    if device.startswith("cuda"):
        return "a few minutes"
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    seconds = settings.tokens / (MEASURED_TOKENS_PER_SECOND_2_CORES * min(cores, 8) / 2) + 60
    plural = "s" if cores > 1 else ""
    estimate = f"about {max(1, round(seconds / 60))} min on {cores} idle CPU core{plural}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > cores:
        estimate += f", longer now: the machine is busy (load average {load:.1f})"
    return estimate


def fingerprint(argument: str | None, options: EncoderOptions) -> str:
    """What identifies the weights a run would load, without loading them: the pretrained
    model's cache key (the one `find_pretrained` picks, else the key pretraining would
    write), or a pointed copy's key (its meta.json; else its resolved path)."""
    pointed = options.extra.get("path") or os.environ.get(PATH_VARIABLE)
    if pointed:
        folder = Path(str(pointed)).expanduser().resolve()
        return f"{NAME}:{(read_meta(folder) or {}).get('key') or folder}"
    from harness.plugins.encoders.hf_load import resolve_device

    device = str(resolve_device(options.device))
    settings = resolve_precision(settings_from_extra(options.extra), device)
    ident = identity(settings)
    found = find_pretrained(Path(options.cache_dir or _default_cache_dir()), ident)
    return f"{NAME}:{found[0].name if found is not None else ident.key}"


def build_tiny_code_lm(argument: str | None, options: EncoderOptions) -> Any:
    """Load `tiny-code-lm` from the cache (or ``path``), pretraining it first when absent."""
    from harness.plugins.causal_lm.model import CausalLM
    from harness.progress import console

    extra = options.extra
    pointed = extra.get("path") or os.environ.get(PATH_VARIABLE)
    if pointed:
        folder = Path(str(pointed)).expanduser()
        meta = read_meta(folder) or {}
        return CausalLM(str(folder), options, name=NAME, model_id=NAME, info=_info(meta))
    from harness.plugins.encoders.hf_load import resolve_device

    device = str(resolve_device(options.device))
    settings = resolve_precision(settings_from_extra(extra), device)
    cache_dir = Path(options.cache_dir or _default_cache_dir())
    ident = identity(settings)
    found = find_pretrained(cache_dir, ident)
    if found is not None and found[0].name != ident.key:
        console().print(
            f"{NAME}: using {found[0]}, pretrained on an earlier state of this machine's "
            "corpus (packages changed since); `harness pretrain` trains one on the current corpus"
        )
    if found is None:
        from harness.plugins.causal_lm.pretrain import pretrain

        console().print(
            f"{NAME}: not pretrained yet in {models_root(cache_dir)}; pretraining it first "
            f"({settings.steps} steps, {estimate_minutes(settings, device)}; "
            "`harness pretrain` does this on its own)"
        )
        found = pretrain(settings, cache_dir, device=device, ident=ident)
    folder, meta = found
    return CausalLM(str(folder), options, name=NAME, model_id=NAME, info=_info(meta))


def _info(meta: dict[str, Any]) -> dict[str, Any]:
    """What the result files record about the pretrained model."""
    keep = ("key", "steps", "seq_len", "seconds", "heldout", "corpus_summary")
    return {"pretrained": {k: meta[k] for k in keep if k in meta}} if meta else {}


def _default_cache_dir() -> Path:
    from harness.plan import default_cache_dir

    return default_cache_dir()
