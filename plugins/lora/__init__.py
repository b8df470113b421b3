"""Plugin: LoRACode's strategies `taskwise` and `langwise`, and `harness adapters`."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_strategies(register: Any) -> None:
    register(
        "taskwise",
        "harness.plugins.lora.strategies:TaskWise",
        "one LoRA trained contrastively over the whole task (all languages)",
        options="harness.plugins.lora.config:OPTIONS",
    )
    register(
        "langwise",
        "harness.plugins.lora.strategies:LangWise",
        "one LoRA per partition (language), each for its own partition",
        options="harness.plugins.lora.config:OPTIONS",
    )


@hookimpl
def harness_register_commands(cli: Any) -> None:
    from harness.plugins.lora.commands import add_commands

    add_commands(cli)
