"""Training state as safetensors: no pickle is ever read back from disk.

An optimizer's ``state_dict`` is tensors (moments, step counts) and plain
values (hyperparameters of each parameter group). The tensors go into a
safetensors file under ``state/<param>/<name>``; the plain values into its
JSON metadata. Reading it back gives a ``state_dict`` that
``optimizer.load_state_dict`` takes, bit for bit the one written.

>>> save_training_state(path, optimizer.state_dict(), torch.get_rng_state())  # doctest: +SKIP
>>> optimizer_state, rng_state = load_training_state(path)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

RNG_KEY = "rng/torch"


def save_training_state(path: Path, optimizer_state: dict[str, Any], rng: torch.Tensor) -> None:
    """Write an optimizer ``state_dict`` and the torch random state to one safetensors file."""
    tensors: dict[str, torch.Tensor] = {RNG_KEY: rng.detach().cpu().contiguous()}
    plain: dict[str, dict[str, Any]] = {}
    for param, entries in optimizer_state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{param}/{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param), {})[name] = value
    metadata = {
        "param_groups": json.dumps(optimizer_state["param_groups"]),
        "plain_state": json.dumps(plain),
    }
    save_file(tensors, str(path), metadata=metadata)


def load_training_state(path: Path) -> tuple[dict[str, Any], torch.Tensor]:
    """The optimizer ``state_dict`` and the torch random state written by `save_training_state`."""
    state: dict[int, dict[str, Any]] = {}
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        rng = handle.get_tensor(RNG_KEY)
        for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
            if key.startswith("state/"):
                _, param, name = key.split("/", 2)
                state.setdefault(int(param), {})[name] = handle.get_tensor(key)
    for param, entries in json.loads(metadata.get("plain_state", "{}")).items():
        state.setdefault(int(param), {}).update(entries)
    groups = json.loads(metadata["param_groups"])
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])  # JSON has no tuples; Adam's are
    return {"state": state, "param_groups": groups}, rng
