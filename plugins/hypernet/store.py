"""The hypernetwork cache: trained networks keyed by everything that determines them.

``<cache>/hypernets/<key>/`` holds ``hypernet.safetensors`` (the weights) and
``hypernet.json`` (its architecture, the modules it adapts, what it was
trained on and what training measured). Training runs in
``<cache>/hypernets/.work/<key>/`` (checkpoints) and the finished folder is
moved into place in one rename (`adapters.store`), so a folder with
``hypernet.json`` is whole.
"""

from __future__ import annotations

from typing import Any

from safetensors.torch import load_file, save_file

from harness.errors import HarnessError
from harness.plugins.adapters.store import ArtifactStore, Stored
from harness.plugins.hypernet.functional import TargetModule
from harness.plugins.hypernet.network import Architecture, HyperNetwork

META_FILE = "hypernet.json"
WEIGHTS_FILE = "hypernet.safetensors"


class HypernetStore(ArtifactStore):
    kind = "hypernets"
    meta_file = META_FILE

    def save(self, key: str, network: HyperNetwork, meta: dict[str, Any]) -> Stored:
        full = {
            **meta,
            "key": key,
            "architecture": network.architecture.as_dict(),
            "targets": [t.path for t in network.targets],
        }
        weights = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
        with self.publishing(key, full) as folder:
            save_file(weights, str(folder / WEIGHTS_FILE))
        return Stored(key, self.path(key), full)

    def load(self, stored: Stored, targets: list[TargetModule]) -> HyperNetwork:
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
