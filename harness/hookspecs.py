"""Hook specifications: every plugin, built-in or third-party, implements these.

Each hook receives a ``register`` callable and calls it; plugins never touch
global state. ``register(name, target, description="", **meta)`` where target
is an object or a lazy ``"module:attribute"`` string.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_register_encoders(register: Any) -> None:
    """Register embedding encoders and causal LMs by name."""


@hookspec
def harness_register_strategies(register: Any) -> None:
    """Register adaptation strategies (none, taskwise, langwise, ...)."""


@hookspec
def harness_register_task_kinds(register: Any) -> None:
    """Register task kinds (retrieval, completion) that score a model."""


@hookspec
def harness_register_tasks(register: Any) -> None:
    """Register task cards (harness.taskcard.TaskCard) by task name."""


@hookspec
def harness_register_datasets(register: Any) -> None:
    """Register dataset formats and sources."""


@hookspec
def harness_register_metrics(register: Any) -> None:
    """Register metrics: name, description, and meta such as higher_is_better."""


@hookspec
def harness_register_run_flags(register: Any) -> None:
    """Register ``harness run`` flags: ``register(name, RunFlag(...), help)``."""


@hookspec
def harness_register_commands(cli: Any) -> None:
    """Add CLI subcommands: ``cli.add_parser(name, help=...)`` returns an argparse parser;
    set ``handler=callable(args) -> int`` with ``parser.set_defaults``."""
