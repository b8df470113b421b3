"""Plugin: Code2LoRA's hypernetwork strategies ``hypernet-static`` and ``hypernet-evo``,
and ``harness hypernet`` (controls report, adapter export). Registering imports no torch."""

from __future__ import annotations

from typing import Any

from harness.extensions import RunFlag
from harness.hookspecs import hookimpl

# declared alike by the lora plugin: one --preset, with either plugin loaded alone
PRESET = RunFlag("strategy", sweep=True)
PRESET_HELP = "strategy preset, e.g. quick or paper (adapter strategies; comma list)"
COST_KINDS = ("hypernet_training", "adapter_generation")


@hookimpl
def harness_register_strategies(register: Any) -> None:
    register(
        "hypernet-static",
        "harness.plugins.hypernet.strategies:HypernetStatic",
        "Code2LoRA Static: a hypernetwork writes each repository's LoRA from its snapshot",
        options="harness.plugins.hypernet.settings:OPTIONS",
        cost_kinds=COST_KINDS,
    )
    register(
        "hypernet-evo",
        "harness.plugins.hypernet.evo:HypernetEvo",
        "Code2LoRA Evo: the hypernetwork's state takes one GRU step per commit diff",
        options="harness.plugins.hypernet.settings:OPTIONS",
        cost_kinds=COST_KINDS,
    )


@hookimpl
def harness_register_run_flags(register: Any) -> None:
    register("preset", PRESET, PRESET_HELP)


@hookimpl
def harness_register_commands(cli: Any) -> None:
    from harness.plugins.hypernet.report import add_commands

    add_commands(cli)
