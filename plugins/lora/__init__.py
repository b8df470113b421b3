"""Plugin: LoRACode's strategies `taskwise` and `langwise`, and `harness adapters`."""

from __future__ import annotations

from typing import Any

from harness.extensions import RunFlag
from harness.hookspecs import hookimpl

PRESET = RunFlag("strategy", sweep=True)
PRESET_HELP = "strategy preset, e.g. quick or paper (adapter strategies; comma list)"
ADAPTER = RunFlag("strategy", metavar="PATH_OR_ID")
ADAPTER_HELP = (
    "evaluate an existing PEFT adapter instead of training (langwise: PARTITION=PATH,...)"
)
# what the core reads of these strategies (harness.extensions): `--set lora.r=8` is
# `--set strategy.r=8`; the seconds training an adapter took are a one-off cost
DECLARED = {"settings_alias": "lora", "cost_kinds": ("adapter_training",)}


@hookimpl
def harness_register_strategies(register: Any) -> None:
    register(
        "taskwise",
        "harness.plugins.lora.strategies:TaskWise",
        "one LoRA trained contrastively over the whole task (all languages)",
        options="harness.plugins.lora.config:OPTIONS",
        **DECLARED,
    )
    register(
        "langwise",
        "harness.plugins.lora.strategies:LangWise",
        "one LoRA per partition (language), each for its own partition",
        options="harness.plugins.lora.config:OPTIONS",
        **DECLARED,
    )


@hookimpl
def harness_register_run_flags(register: Any) -> None:
    register("preset", PRESET, PRESET_HELP)
    register("adapter", ADAPTER, ADAPTER_HELP)


@hookimpl
def harness_register_commands(cli: Any) -> None:
    from harness.plugins.lora.commands import add_commands

    add_commands(cli)
