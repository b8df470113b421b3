"""The hypernetwork cache: trained networks keyed by everything that determines them.

``<cache>/hypernets/<key>/`` holds ``hypernet.safetensors`` (the weights) and
``hypernet.json`` (its architecture, the modules it adapts, what it was
trained on and what training measured). Training runs in
``<cache>/hypernets/.work/<key>/`` (checkpoints) and the finished folder is
moved into place in one rename, so a folder with ``hypernet.json`` is whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from harness.errors import HarnessError
from harness.plugins.hypernet.functional import TargetModule
from harness.plugins.hypernet.network import Architecture, HyperNetwork
from harness.results import file_lock

META_FILE = "hypernet.json"
WEIGHTS_FILE = "hypernet.safetensors"


@dataclass
class StoredHypernet:
    key: str
    path: Path
    meta: dict[str, Any]


class HypernetStore:
    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / "hypernets"

    def path(self, key: str) -> Path:
        return self.root / key

    def workdir(self, key: str) -> Path:
        return self.root / ".work" / key

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the network's lock (an ``flock``, freed if the process dies): two runs that
        need one network train it once; the second waits, then finds it cached."""
        with file_lock(self.root / ".work" / f"{key}.lock"):
            yield

    def get(self, key: str) -> StoredHypernet | None:
        meta_file = self.path(key) / META_FILE
        if not meta_file.is_file():
            return None
        return StoredHypernet(key, self.path(key), json.loads(meta_file.read_text()))

    def checkpointed_steps(self, key: str) -> int:
        state = self.workdir(key) / "checkpoint" / "state.json"
        return int(json.loads(state.read_text()).get("step", 0)) if state.is_file() else 0

    def save(self, key: str, network: HyperNetwork, meta: dict[str, Any]) -> StoredHypernet:
        temporary = self.root / f".{key}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
        save_file(weights, str(temporary / WEIGHTS_FILE))
        full = {
            **meta,
            "key": key,
            "architecture": network.architecture.as_dict(),
            "targets": [t.path for t in network.targets],
        }
        (temporary / META_FILE).write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
        final = self.path(key)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        shutil.rmtree(self.workdir(key), ignore_errors=True)
        return StoredHypernet(key, final, full)

    def load(self, stored: StoredHypernet, targets: list[TargetModule]) -> HyperNetwork:
        """The stored network for a model whose target modules are `targets`."""
        paths = [t.path for t in targets]
        if stored.meta.get("targets") != paths:
            raise HarnessError(
                f"{stored.path}: the hypernetwork adapts other modules than this model has"
            )
        network = HyperNetwork(Architecture.from_dict(stored.meta["architecture"]), targets)
        network.load_state_dict(load_file(str(stored.path / WEIGHTS_FILE)))
        network.eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return network

    def list(self) -> list[StoredHypernet]:
        if not self.root.is_dir():
            return []
        found = [
            self.get(p.name) for p in sorted(self.root.iterdir()) if not p.name.startswith(".")
        ]
        return [s for s in found if s is not None]
