"""LoRA training settings: the presets and their one-value-at-a-time overrides.

``paper`` is LoRACode's setting (arXiv 2503.05315: rank 64, alpha 128,
dropout 0.1, lr 5e-5, linear schedule with 1000 warmup steps, 16 per device,
one epoch, max length 512). Its loss differs per task (`TASK_PRESETS`, keyed by
the task card's name): text-to-code (``t2c``) is InfoNCE at temperature 0.2,
code-to-code (``c2c``) the same loss on unscaled cosine similarity, i.e.
temperature 1; another retrieval task gets 0.2. ``quick`` is
sized so that ``harness run --model minilm --strategy langwise --task t2c``
trains three adapters and evaluates them in about 10 minutes on 2 CPU cores.
Override any field with ``--set strategy.KEY=VALUE`` (``--preset NAME`` picks
the starting point).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.errors import HarnessError
from harness.hardware import resolve_precision
from harness.options import Option, from_dataclass
from harness.plugins.adapters.settings import check_at_least, check_choices, overridden, preset


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ()  # empty: resolved per architecture (query/value)
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 6
    schedule: str = "linear"  # linear warmup, then linear decay to 0
    batch_size: int = 32
    grad_accum: int = 1
    epochs: int = 1
    max_steps: int = 60  # 0: as many as the epochs give
    max_length: int = 128
    temperature: float = 0.05
    symmetric: bool = False
    clip_norm: float = 1.0
    balanced: bool = True  # taskwise: equal share of every partition in each epoch
    checkpoint_every: int = 10
    # auto: bf16 autocast where the hardware computes bf16 natively (harness.hardware), else
    # fp32; resolved when the settings are made, so an adapter's key names what it trained in
    precision: str = "auto"
    seed: int = 0

    def identity(self) -> dict[str, Any]:
        """The fields that determine the adapter (checkpointing does not)."""
        values = asdict(self)
        values.pop("checkpoint_every")
        return values


PRESETS: dict[str, LoraSettings] = {
    "paper": LoraSettings(
        r=64, alpha=128, dropout=0.1, lr=5e-5, warmup_steps=1000, batch_size=16,
        epochs=1, max_steps=0, max_length=512, temperature=0.2, checkpoint_every=500,
    ),
    "quick": LoraSettings(),
}  # fmt: skip

# completion (causal LMs): Code2LoRA's rank 16 and alpha 32 on the q, k, v, o, gate, up and
# down projections; the other values are harness's own choices, not the paper's. ``quick``
# is sized for tiny-code-lm on 2 CPU cores. The loss is on the target tokens only.
COMPLETION_PRESETS: dict[str, LoraSettings] = {
    "paper": LoraSettings(
        r=16, alpha=32, dropout=0.05, lr=2e-4, warmup_steps=100, batch_size=16,
        epochs=1, max_steps=0, max_length=2048, checkpoint_every=200,
    ),
    "quick": LoraSettings(
        r=16, alpha=32, dropout=0.05, lr=1e-3, warmup_steps=5, batch_size=8,
        epochs=4, max_steps=60, max_length=384, checkpoint_every=10,
    ),
}  # fmt: skip
PRESETS_BY_KIND = {"retrieval": PRESETS, "completion": COMPLETION_PRESETS}

# a preset's values for one retrieval task (the card's name), over its shared ones: LoRACode
# scales text-to-code cosines by 1/0.2 and trains code-to-code on the cosines as they are
TASK_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"t2c": {"temperature": 0.2}, "c2c": {"temperature": 1.0}},
}

_OPTION_KEYS = {"preset", "adapter"}


def settings_from(
    options: dict[str, Any], kind: str = "retrieval", task: str = "", device: str = "auto"
) -> LoraSettings:
    """The preset named by ``options["preset"]`` (default ``quick``) for a task of `kind`
    (retrieval or completion) named `task`, with overrides applied: an explicit
    ``--set strategy.KEY`` wins over the preset's value for the task. ``precision=auto``
    becomes bf16 where `device` computes it natively, else fp32."""
    base = preset(PRESETS_BY_KIND.get(kind, PRESETS), options, "LoRA")
    if kind == "retrieval":
        name = str(options.get("preset", "quick"))
        base = replace(base, **TASK_PRESETS.get(name, {}).get(task, {}))
    settings = resolve_precision(overridden(base, options, _OPTION_KEYS), device)
    _validate(settings)
    if kind == "retrieval" and settings.batch_size < 2:
        raise HarnessError("strategy.batch_size must be at least 2: in-batch negatives need two")
    return settings


def _validate(s: LoraSettings) -> None:
    at_least_one = ("r", "alpha", "batch_size", "grad_accum", "epochs", "max_length",
                    "checkpoint_every")  # fmt: skip
    check_at_least(s, at_least_one, 1)
    if not 0 <= s.dropout < 1:
        raise HarnessError(f"strategy.dropout must be in [0, 1), got {s.dropout}")
    if s.lr <= 0 or s.temperature <= 0:
        raise HarnessError("strategy.lr and strategy.temperature must be positive")
    check_choices(s, {"precision": ("bf16", "fp32"), "schedule": ("linear", "constant")})
    if s.max_steps < 0 or s.warmup_steps < 0:
        raise HarnessError("strategy.max_steps and strategy.warmup_steps must be >= 0")


# what `--set strategy.*` accepts (harness.options): checkpointing changes when a training
# is saved, never what it computes
OPTIONS = (
    Option("preset", "quick", "the starting point: quick or paper"),
    Option("adapter", None, "an existing PEFT adapter to evaluate instead of training"),
    *from_dataclass(LoraSettings, neutral_names=("checkpoint_every",)),
)
