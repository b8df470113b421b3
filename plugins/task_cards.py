"""Registers the task cards shipped in the tasks/ folder (harness.tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.hookspecs import hookimpl
from harness.taskcard import load_cards


@hookimpl
def harness_register_tasks(register: Any) -> None:
    import harness.tasks

    for card in load_cards(Path(harness.tasks.__file__).parent):
        register(card.name, card, card.description, kind=card.kind)
