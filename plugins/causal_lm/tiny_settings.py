"""What determines `tiny-code-lm`: its architecture, its pretraining settings, its cache key.

Read by the model's factory (`tiny`), which pretrains on first use, and by the
pretraining itself (`pretrain`, `pretrain_data`), so neither imports the other
for them. The cache: ``<cache_dir>/models/tiny-code-lm/<key>/`` with
``meta.json``; the key hashes the architecture, the training settings, the
seed and the corpus identity (each source's name, version and file count).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

NAME = "tiny-code-lm"
PRETRAIN_VERSION = 2  # 2: 1024 positions, presets, precision auto
META_FILE = "meta.json"


@dataclass(frozen=True)
class Architecture:
    vocab_size: int = 8192
    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 688
    rope_theta: float = 10000.0


PRESETS: dict[str, int] = {"default": 300, "long": 2860}
"""Optimizer steps (of 4 sequences x 1024 tokens) per preset: ~10 and ~100 minutes of
training on 2 idle CPU cores in float32 (~1,950 tokens/s measured). Chosen from the
learning curve in docs/pretraining.md: at ~1.2M tokens, 300 steps of 4 sequences ended at a
training loss of 5.14 and 2.48 held-out bits per byte, 150 steps of 8 at 5.79 and 2.79."""


@dataclass(frozen=True)
class PretrainSettings:
    """What `harness pretrain` trains; all but `checkpoint_every` go into the cache key.

    `corpus` names folders to read instead of the default sources (tests use it).
    `precision` ``auto`` must be resolved (`harness.hardware.resolve_precision`) before
    the key is taken: the key holds the precision the training ran in.
    """

    steps: int = PRESETS["default"]
    seq_len: int = 1024
    batch_size: int = 4
    seed: int = 0
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    precision: str = "auto"  # bf16 autocast where the hardware computes bf16, else fp32
    heldout_chars: int = 400_000
    corpus: tuple[str, ...] = ()
    architecture: Architecture = field(default_factory=Architecture)
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        for name in ("steps", "seq_len", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise HarnessError(f"pretrain: {name.replace('_', '-')} must be at least 1")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise HarnessError(f"pretrain: precision {self.precision!r}: use auto, bf16 or fp32")

    @property
    def tokens(self) -> int:
        """Tokens seen in training: steps x batch size x sequence length."""
        return self.steps * self.batch_size * self.seq_len

    def determining(self) -> dict[str, Any]:
        if self.precision == "auto":
            raise ValueError("resolve_precision() before taking the key")
        settings = asdict(self)
        settings.pop("checkpoint_every")
        settings["corpus"] = [str(Path(folder).resolve()) for folder in self.corpus]
        return settings


def preset_settings(preset: str) -> PretrainSettings:
    """The default settings with the preset's steps (``default`` or ``long``)."""
    if preset not in PRESETS:
        raise HarnessError(f"pretrain: preset {preset!r}: use one of {', '.join(PRESETS)}")
    return PretrainSettings(steps=PRESETS[preset])


@dataclass(frozen=True)
class Identity:
    """The cache key of a pretraining and what it hashes."""

    key: str
    settings_key: str  # the same without the corpus identity (to find an earlier corpus's model)
    corpus: dict[str, Any]


def identity(settings: PretrainSettings) -> Identity:
    """The key of `settings` on this machine's corpus (lists the sources: ~0.5 s)."""
    from harness.plugins.causal_lm.corpus import corpus_sources, identity, python_files

    sources = corpus_sources([Path(folder) for folder in settings.corpus])
    corpus = identity(sources, python_files(sources))
    determining = {"version": PRETRAIN_VERSION, **settings.determining()}
    settings_key = _digest(determining)
    return Identity(_digest({**determining, "corpus": corpus}), settings_key, corpus)


def models_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / NAME


def read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / META_FILE).read_text()))
    except (OSError, ValueError):
        return None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:20]
