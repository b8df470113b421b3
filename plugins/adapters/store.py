"""The artifact cache of trained adapters and hypernetworks: one folder per key.

``<cache>/<kind>/<key>/`` holds the artifact's files and a JSON meta file
(what it was trained on and how, what training measured); a folder with its
meta file is whole, because it is written beside its place and moved there in
one rename (`harness.atomic.publishing`). Training runs in ``<cache>/<kind>/.work/<key>/``
(checkpoints), and an ``flock`` per key makes two runs that need one artifact
train it once. A plugin subclasses `ArtifactStore` with its folder name, its
meta file and how it writes its artifact.

>>> class AdapterStore(ArtifactStore):  # doctest: +SKIP
...     kind, meta_file = "adapters", "harness_adapter.json"
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness import distributed
from harness.atomic import publishing
from harness.errors import HarnessError
from harness.results import file_lock

TRAINING_VERSION = 1
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # one plain folder name: no '/', no '..'


def checked_key(key: str) -> str:
    """`key` when it names a folder inside the store; a key that could escape it raises."""
    if not _KEY.fullmatch(key):
        raise HarnessError(f"adapter key {key!r} is not a plain name (letters, digits, _ and -)")
    return key


def adapter_key(identity: dict[str, Any]) -> str:
    """The key of the artifact that `identity` (everything that determines it) describes."""
    canonical = json.dumps(
        {**identity, "training_version": TRAINING_VERSION}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass
class Stored:
    key: str
    path: Path
    meta: dict[str, Any]


class ArtifactStore:
    kind: ClassVar[str] = "artifacts"  # the folder under the cache
    meta_file: ClassVar[str] = "meta.json"

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / self.kind

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def workdir(self, key: str) -> Path:
        return self.root / ".work" / checked_key(key)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the key's lock (an ``flock``, freed if the process dies): two runs that
        need one artifact train it once; the second waits, then finds it cached."""
        with file_lock(self.root / ".work" / f"{checked_key(key)}.lock"):
            yield

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """`lock` in a single process; under torchrun rank 0 holds it for every rank."""
        with self.lock(key) if distributed.is_main() else contextlib.nullcontext():
            yield

    def cached(self, key: str) -> Stored | None:
        """The stored artifact, when there is one (under torchrun rank 0 decides, so that
        every rank trains or none does)."""
        stored = self.get(key)
        return stored if distributed.from_main(stored is not None) else None

    def save_once(self, key: str, save: Callable[[], object]) -> Stored:
        """`save()` in one process (rank 0 under torchrun); every rank then reads it."""
        if distributed.is_main():
            save()
        distributed.barrier()
        stored = self.get(key)
        if stored is None:
            raise HarnessError(f"{self.path(key)}: saved, yet not found")
        return stored

    def get(self, key: str) -> Stored | None:
        meta_file = self.path(key) / self.meta_file
        if not meta_file.is_file():
            return None
        return Stored(key, self.path(key), json.loads(meta_file.read_text()))

    def checkpointed_steps(self, key: str) -> int:
        """The steps a killed training of `key` had checkpointed (0: none)."""
        state = self.workdir(key) / "checkpoint" / "state.json"
        return int(json.loads(state.read_text()).get("step", 0)) if state.is_file() else 0

    @contextlib.contextmanager
    def publishing(self, key: str, meta: dict[str, Any]) -> Iterator[Path]:
        """A folder to write the artifact into; when the block ends, `meta` is written
        beside it, the whole folder replaces the key's in one rename and the training's
        work folder is removed."""
        with publishing(self.path(key), self.root / f".{key}.tmp") as folder:
            yield folder
            text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
            (folder / self.meta_file).write_text(text)
        shutil.rmtree(self.workdir(key), ignore_errors=True)

    def list(self) -> list[Stored]:
        if not self.root.is_dir():
            return []
        found = [
            self.get(p.name)
            for p in sorted(self.root.iterdir())
            if p.is_dir() and _KEY.fullmatch(p.name)
        ]
        return [a for a in found if a is not None]

    def find(self, prefix: str) -> Stored:
        """The one artifact whose key starts with `prefix`."""
        matches = [a for a in self.list() if a.key.startswith(prefix)]
        if len(matches) != 1:
            what = "no adapter" if not matches else f"{len(matches)} adapters"
            raise HarnessError(f"{what} in {self.root} with a key starting {prefix!r}")
        return matches[0]
