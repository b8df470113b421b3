"""Plugin: Code2LoRA's hypernetwork strategies ``hypernet-static`` and ``hypernet-evo``,
and ``harness hypernet`` (controls report, adapter export). Registering imports no torch."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_strategies(register: Any) -> None:
    register(
        "hypernet-static",
        "harness.plugins.hypernet.strategies:HypernetStatic",
        "Code2LoRA Static: a hypernetwork writes each repository's LoRA from its snapshot",
        options="harness.plugins.hypernet.settings:OPTIONS",
    )
    register(
        "hypernet-evo",
        "harness.plugins.hypernet.evo:HypernetEvo",
        "Code2LoRA Evo: the hypernetwork's state takes one GRU step per commit diff",
        options="harness.plugins.hypernet.settings:OPTIONS",
    )


@hookimpl
def harness_register_commands(cli: Any) -> None:
    from harness.plugins.hypernet.report import add_commands

    add_commands(cli)
