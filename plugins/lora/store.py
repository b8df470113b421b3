"""The adapter cache: standard PEFT adapter folders keyed by what determines them.

``<cache>/adapters/<key>/`` holds ``adapter_config.json`` and
``adapter_model.safetensors`` (loadable by ``PeftModel.from_pretrained``) and
``harness_adapter.json`` (what it was trained on and how, and what training
measured). Training runs in ``<cache>/adapters/.work/<key>/`` (checkpoints)
and the finished folder is moved into place in one rename (`adapters.store`).
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.plugins.adapters.store import ArtifactStore, Stored

META_FILE = "harness_adapter.json"


class AdapterStore(ArtifactStore):
    kind = "adapters"
    meta_file = META_FILE

    def save(self, key: str, peft_model: Any, meta: dict[str, Any]) -> Stored:
        """Write the adapter beside its meta, then move the folder into place atomically.
        An adapter with a non-finite weight (a training that diverged) is never stored."""
        check_finite_weights(peft_model, key)
        with self.publishing(key, meta) as folder:
            peft_model.save_pretrained(str(folder), save_embedding_layers=False)
        return Stored(key, self.path(key), meta)


def check_finite_weights(peft_model: Any, key: str) -> None:
    """Raise a one-line HarnessError when a trained LoRA weight is NaN or infinite."""
    import torch
    from peft import get_peft_model_state_dict

    for name, tensor in get_peft_model_state_dict(peft_model).items():
        if not bool(torch.isfinite(tensor).all()):
            raise HarnessError(
                f"adapter {key}: training left non-finite values in {name} (a learning rate "
                "too high?); nothing was stored"
            )
