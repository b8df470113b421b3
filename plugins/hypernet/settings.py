"""Hypernetwork settings: presets and their ``--set strategy.KEY=VALUE`` overrides.

``quick`` (the default) is sized for ``tiny-code-lm`` on 2 CPU cores;
``paper`` follows Code2LoRA where it says (rank 16, alpha 32, the q, k, v,
o, gate, up and down projections, Qwen3-Embedding-0.6B repository vectors)
and is harness's own choice elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import HarnessError
from harness.options import Option, from_dataclass
from harness.plugins.adapters.settings import check_choices, check_positive, overridden, preset
from harness.plugins.hypernet.repo_encoder import ReaderSettings

_READER_FIELDS = ("encoder", "chunk_chars", "overlap_chars", "max_files", "max_chunks")


@dataclass(frozen=True)
class HypernetSettings:
    # the adapters
    r: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] = ()  # empty: every attention and MLP projection
    # the network
    hidden: int = 256
    layer_dim: int = 32  # learned layer embeddings (Text-to-LoRA); 0: one adapter per kind
    dropout: float = 0.0
    state_dim: int = 256  # Evo's GRU state
    b_scale: float = 0.1  # the bound of B's entries at the start (learned)
    condition: str = "repository"  # or "constant": the ablation that ignores its input
    # training
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 10
    steps: int = 200
    batch_size: int = 8
    max_length: int = 384
    clip_norm: float = 1.0
    precision: str = "auto"  # bf16 on cuda, fp32 elsewhere; or bf16 / fp32
    balanced: bool = True  # each batch draws repositories uniformly, then their examples
    checkpoint_every: int = 50
    seed: int = 0
    # the repository reader
    encoder: str = "minilm"
    chunk_chars: int = 1000
    overlap_chars: int = 200
    max_files: int = 64
    max_chunks: int = 4
    # the controls
    controls: bool = True
    collapse_cosine: float = 0.99  # a mean pairwise adapter cosine at or above it is flagged
    export_dir: str = ""  # when set, each evaluated repository's adapter is written there (PEFT)

    def reader(self) -> ReaderSettings:
        """The reader's settings this strategy sets (the others keep the reader's defaults)."""
        return ReaderSettings(**{name: getattr(self, name) for name in _READER_FIELDS})

    def identity(self) -> dict[str, Any]:
        """The fields that determine the trained network (not checkpointing or controls)."""
        values = asdict(self)
        for name in ("checkpoint_every", "controls", "collapse_cosine", "export_dir"):
            values.pop(name)
        return values


PRESETS: dict[str, HypernetSettings] = {
    "quick": HypernetSettings(),
    "paper": HypernetSettings(
        r=16, alpha=32.0, hidden=512, layer_dim=64, lr=1e-4, warmup_steps=100, steps=5000,
        batch_size=16, max_length=2048, encoder="hf:Qwen/Qwen3-Embedding-0.6B",
        chunk_chars=2000, overlap_chars=400, max_files=512, max_chunks=16,
        checkpoint_every=250,
    ),
}  # fmt: skip

_OPTION_KEYS = {"preset"}
_CHOICES = {"condition": ("repository", "constant"), "precision": ("auto", "bf16", "fp32")}
_POSITIVE = ("r", "alpha", "hidden", "state_dim", "steps", "batch_size", "max_length",
             "checkpoint_every", "chunk_chars", "lr", "b_scale")  # fmt: skip


def settings_from(options: dict[str, Any]) -> HypernetSettings:
    """The preset ``options["preset"]`` (default ``quick``) with the other options applied."""
    settings = overridden(preset(PRESETS, options, "hypernet"), options, _OPTION_KEYS)
    check_positive(settings, _POSITIVE)
    check_choices(settings, _CHOICES)
    if not 0 <= settings.dropout < 1 or not 0 < settings.collapse_cosine <= 1:
        raise HarnessError("strategy.dropout must be in [0, 1), strategy.collapse_cosine in (0, 1]")
    if not 0 <= settings.overlap_chars < settings.chunk_chars:
        raise HarnessError("strategy.overlap_chars must be at least 0 and below chunk_chars")
    return settings


# what `--set strategy.*` accepts (harness.options): checkpointing and exporting the
# adapters change what is saved, never a number
OPTIONS = (
    Option("preset", "quick", "the starting point: quick or paper"),
    *from_dataclass(HypernetSettings, neutral_names=("checkpoint_every", "export_dir")),
)
