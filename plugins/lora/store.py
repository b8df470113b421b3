"""The adapter cache: standard PEFT adapter folders keyed by what determines them.

``<cache>/adapters/<key>/`` holds ``adapter_config.json`` and
``adapter_model.safetensors`` (loadable by ``PeftModel.from_pretrained``) and
``harness_adapter.json`` (what it was trained on and how, and what training
measured). Training runs in ``<cache>/adapters/.work/<key>/`` (checkpoints)
and the finished folder is moved into place in one rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import file_lock

META_FILE = "harness_adapter.json"
TRAINING_VERSION = 1
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # one plain folder name: no '/', no '..'


def checked_key(key: str) -> str:
    """`key` when it names a folder inside the store; a key that could escape it raises."""
    if not _KEY.fullmatch(key):
        raise HarnessError(f"adapter key {key!r} is not a plain name (letters, digits, _ and -)")
    return key


def adapter_key(identity: dict[str, Any]) -> str:
    canonical = json.dumps(
        {**identity, "training_version": TRAINING_VERSION}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass
class StoredAdapter:
    key: str
    path: Path
    meta: dict[str, Any]


class AdapterStore:
    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "adapters"

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def workdir(self, key: str) -> Path:
        return self.root / ".work" / checked_key(key)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the adapter's lock (an ``flock``, freed if the process dies): two runs that
        need one adapter train it once; the second waits, then finds it cached."""
        with file_lock(self.root / ".work" / f"{checked_key(key)}.lock"):
            yield

    def get(self, key: str) -> StoredAdapter | None:
        folder = self.path(key)
        meta_file = folder / META_FILE
        if not meta_file.exists():
            return None
        return StoredAdapter(key, folder, json.loads(meta_file.read_text()))

    def save(self, key: str, peft_model: Any, meta: dict[str, Any]) -> StoredAdapter:
        """Write the adapter beside its meta, then move the folder into place atomically.
        An adapter with a non-finite weight (a training that diverged) is never stored."""
        check_finite_weights(peft_model, key)
        tmp = self.root / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        peft_model.save_pretrained(str(tmp), save_embedding_layers=False)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        final = self.path(key)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        shutil.rmtree(self.workdir(key), ignore_errors=True)
        return StoredAdapter(key, final, meta)

    def list(self) -> list[StoredAdapter]:
        if not self.root.exists():
            return []
        found = [
            self.get(p.name)
            for p in sorted(self.root.iterdir())
            if p.is_dir() and _KEY.fullmatch(p.name)
        ]
        return [a for a in found if a is not None]

    def find(self, prefix: str) -> StoredAdapter:
        """The one adapter whose key starts with `prefix`."""
        matches = [a for a in self.list() if a.key.startswith(prefix)]
        if len(matches) != 1:
            what = "no adapter" if not matches else f"{len(matches)} adapters"
            raise HarnessError(f"{what} in {self.root} with a key starting {prefix!r}")
        return matches[0]


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
