"""Training checkpoints that a killed training resumes from, with no pickle.

A checkpoint is a folder: the weights (written by the caller, who knows
their format), the optimizer and torch random state (`safe_state`) and
``state.json`` (step, losses, seconds, and whatever else the caller keeps).
It is published whole (`harness.atomic.publishing`), so a process killed while
writing leaves the previous checkpoint.

>>> save_checkpoint(folder, write_weights, optimizer.state_dict(), progress)  # doctest: +SKIP
>>> resumed = load_checkpoint(folder)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from harness.atomic import publishing
from harness.plugins.adapters.safe_state import load_training_state, save_training_state

OPTIMIZER_FILE = "optimizer.safetensors"
PROGRESS_FILE = "state.json"


@dataclass
class Checkpoint:
    step: int
    losses: list[float]
    seconds: float
    optimizer: dict[str, Any]  # a state_dict for ``optimizer.load_state_dict``
    rng: torch.Tensor  # for ``torch.set_rng_state`` (dropout masks)


def save_checkpoint(
    folder: Path,
    write_weights: Callable[[Path], object],
    optimizer_state: dict[str, Any],
    progress: dict[str, Any],
    optimizer_file: str = OPTIMIZER_FILE,
) -> None:
    """Replace `folder` by a checkpoint: `write_weights(folder)`, the optimizer state and
    the current torch random state, and `progress` (``step``, ``losses``, ``seconds``)."""
    with publishing(folder) as temporary:
        write_weights(temporary)
        save_training_state(temporary / optimizer_file, optimizer_state, torch.get_rng_state())
        (temporary / PROGRESS_FILE).write_text(json.dumps(progress))


def load_checkpoint(folder: Path, optimizer_file: str = OPTIMIZER_FILE) -> Checkpoint | None:
    """The checkpoint in `folder`; None when there is none (the weights are the caller's),
    or one in a layout this version does not write (a hypernetwork checkpoint from before
    `safe_state`): the training then starts over and, drawn from its seed, ends the same."""
    if not (folder / PROGRESS_FILE).is_file() or not (folder / optimizer_file).is_file():
        return None
    progress = json.loads((folder / PROGRESS_FILE).read_text())
    try:
        optimizer, rng = load_training_state(folder / optimizer_file)
    except (SafetensorError, KeyError):
        return None
    return Checkpoint(
        int(progress["step"]), list(progress["losses"]), float(progress["seconds"]), optimizer, rng
    )
