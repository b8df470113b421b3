"""An on-disk cache of embeddings, so a text is encoded once per model state.

An entry is keyed by what determines the embedding: the encoder (its name and
``info``: model, source, revision or commit, pooling, max length, dtype; the
device type), a hash of the model's weights with a separate hash of its PEFT
adapter (so a retrained adapter or a changed local folder never hits), the
role, and a hash of the text. A second identical run encodes nothing.

Layout: ``<root>/<key[:2]>/<key>/identity.json`` (what the key stands for) and
any number of segments ``*.npy``, each a structured array of (16-byte text
hash, embedding) rows. A segment is written to a temporary name and renamed
into place, so readers only ever see whole segments, and concurrent writers
never clash (at worst a text is stored twice). A segment that cannot be read
is skipped.

Identity of results: the misses of one ``encode`` call are encoded in one
call, in their order, as without the cache, so a run with the cache on and
nothing in it computes the same embeddings as a run with it off; a run that
finds everything reads back exactly what was stored.

>>> cached = CachedEncoder(encoder, EmbeddingCache(Path("cache/embeddings")))  # doctest: +SKIP
>>> cached.encode(texts); cached.encode(texts); cached.stats()  # doctest: +SKIP
{'embedding_cache_hits': 100.0, 'embedding_cache_misses': 100.0, 'embedding_cache_hit_rate': 0.5}
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import atomic, distributed
from harness.encoder import Role
from harness.progress import console

VOLATILE_INFO = ("device", "adapter_training", "one_off")
"""Encoder ``info`` fields that say how a model ran or was trained, not what it computes."""


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """One 16-byte sha256 prefix per text, as an (n, 2) uint64 array."""
    out = np.empty((len(texts), 2), dtype=np.uint64)
    raw = out.view(np.uint8).reshape(len(texts), 16)
    for i, text in enumerate(texts):
        raw[i] = np.frombuffer(
            hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16], np.uint8
        )
    return out


def fingerprint(encoder: Any) -> str | None:
    """What the encoder says determines its state and code (``encoder.fingerprint()``),
    else a hash of its torch weights; None when it offers neither (then nothing is cached:
    an encoder whose state could change unseen is never answered from the cache)."""
    declared = getattr(encoder, "fingerprint", None)
    if callable(declared):
        value = declared()
        return None if value is None else str(value)
    return weights_hash(getattr(encoder, "model", None))


def encoder_identity(encoder: Any, role: Role, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines `encoder`'s embeddings of texts in `role`: its ``info``,
    its fingerprint, its adapter, and the run's model options (`run`: the model name and
    every ``--set encoder.*`` value that can change a result)."""
    info = {k: v for k, v in dict(getattr(encoder, "info", {}) or {}).items()
            if k not in VOLATILE_INFO}  # fmt: skip
    device = str(dict(getattr(encoder, "info", {}) or {}).get("device", "cpu"))
    model = getattr(encoder, "model", None)
    return {
        "encoder": str(getattr(encoder, "name", type(encoder).__name__)),
        "info": info,
        "device_type": device.split(":")[0],
        "weights": fingerprint(encoder),
        "adapter": adapter_hash(model),
        "role": role,
        "run": run or {},
    }


def key_of(identity: dict[str, Any]) -> str:
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def weights_hash(model: Any) -> str | None:
    """sha256 of every tensor of a torch module's state (names, dtypes, shapes, bytes)."""
    if model is None or not hasattr(model, "state_dict"):
        return None
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        _add_tensor(digest, name, tensor)
    return digest.hexdigest()


def adapter_hash(model: Any) -> str | None:
    """sha256 of a PEFT model's adapter weights and config; None for a plain model."""
    if model is None or not hasattr(model, "peft_config"):
        return None
    from peft import get_peft_model_state_dict

    digest = hashlib.sha256()
    configs = {name: config.to_dict() for name, config in model.peft_config.items()}
    digest.update(json.dumps(configs, sort_keys=True, default=str).encode())
    for name, tensor in sorted(get_peft_model_state_dict(model).items()):
        _add_tensor(digest, name, tensor)
    return digest.hexdigest()


def _add_tensor(digest: Any, name: str, tensor: Any) -> None:
    import torch

    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
    digest.update(flat.view(torch.uint8).numpy().data)


@dataclass
class _Index:
    """The cached rows of one key: sorted first hash words, for searchsorted."""

    files: set[str] = field(default_factory=set)
    segments: list[np.ndarray] = field(default_factory=list)
    first: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    second: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    segment: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class EmbeddingCache:
    """Segments of (text hash, embedding) rows under `root`, one folder per key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._indexes: dict[str, _Index] = {}
        self._warned = False

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(found, embeddings): which `hashes` are cached, and their rows (None if none)."""
        index = self._refresh(key)
        found = np.zeros(len(hashes), dtype=bool)
        if not len(index.first) or not len(hashes):
            return found, None
        at = np.minimum(np.searchsorted(index.first, hashes[:, 0]), len(index.first) - 1)
        found = (index.first[at] == hashes[:, 0]) & (index.second[at] == hashes[:, 1])
        if not found.any():
            return found, None
        dim = index.segments[0]["embedding"].shape[1]
        out = np.zeros((len(hashes), dim), dtype=np.float32)
        wanted = np.flatnonzero(found)
        segment_of, row_of = index.segment[at[wanted]], index.row[at[wanted]]
        for segment in np.unique(segment_of):
            mine = segment_of == segment
            out[wanted[mine]] = index.segments[segment]["embedding"][row_of[mine]]
        return found, out

    def put(self, key: str, hashes: np.ndarray, embeddings: np.ndarray,
            identity: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Store rows as one new segment (atomically); an unwritable cache only warns."""
        if not len(hashes):
            return
        rows = np.empty(len(hashes), dtype=_segment_dtype(embeddings.shape[1]))
        rows["hash"] = hashes.view(np.uint8).reshape(len(hashes), 16).view("V16")[:, 0]
        rows["embedding"] = embeddings
        folder = self.folder(key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if identity is not None and not (folder / "identity.json").exists():
                text = json.dumps(identity, indent=2, sort_keys=True, default=str) + "\n"
                atomic.write(folder / "identity.json", text)
            segment = io.BytesIO()
            np.save(segment, rows)
            atomic.write(folder / f"{os.getpid()}-{uuid.uuid4().hex}.npy", segment.getvalue())
        except OSError as exc:
            if not self._warned:
                console().print(f"[yellow]warning:[/] embedding cache {self.root}: {exc}")
                self._warned = True

    def _refresh(self, key: str) -> _Index:
        """The index of `key`, with any segment written since the last look added."""
        index = self._indexes.setdefault(key, _Index())
        folder = self.folder(key)
        try:
            names = sorted(p.name for p in folder.iterdir() if p.suffix == ".npy")
        except OSError:
            return index
        new = [name for name in names if name not in index.files]
        if not new:
            return index
        firsts, seconds = [index.first], [index.second]
        segments, rows = [index.segment], [index.row]
        for name in new:
            index.files.add(name)
            segment = _read_segment(folder / name)
            if segment is None:
                continue
            words = np.ascontiguousarray(segment["hash"]).view(np.uint64).reshape(-1, 2)
            firsts.append(words[:, 0])
            seconds.append(words[:, 1])
            segments.append(np.full(len(segment), len(index.segments), dtype=np.int64))
            rows.append(np.arange(len(segment), dtype=np.int64))
            index.segments.append(segment)
        first, second = np.concatenate(firsts), np.concatenate(seconds)
        order = np.lexsort((second, first))
        index.first, index.second = first[order], second[order]
        index.segment, index.row = np.concatenate(segments)[order], np.concatenate(rows)[order]
        return index


def _segment_dtype(dim: int) -> np.dtype:
    return np.dtype([("hash", "V16"), ("embedding", "<f4", (dim,))])


def _read_segment(path: Path) -> np.ndarray | None:
    """A segment, memory-mapped; None (skipped) when it is not one."""
    try:
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    names = rows.dtype.names or ()
    if names != ("hash", "embedding") or rows.dtype["hash"] != np.dtype("V16") or rows.ndim != 1:
        return None
    if rows.dtype["embedding"].ndim != 1 or rows.dtype["embedding"].base != np.float32:
        return None
    return rows


class CachedEncoder:
    """`encoder` with an embedding cache: only texts not in the cache reach `inner`.

    `inner` encodes the misses (default: the encoder itself; a distributed run
    passes its sharded twin); `writer=False` reads but never writes (the ranks
    of a distributed run other than the first). Anything else is the encoder's.
    """

    def __init__(self, encoder: Any, cache: EmbeddingCache, *, inner: Any = None,
                 writer: bool = True, run: dict[str, Any] | None = None,
                 refresh: bool = False) -> None:  # fmt: skip
        self.encoder = encoder
        self.cache = cache
        self.inner = inner if inner is not None else encoder
        self.writer = writer
        self.run = run  # the run's model identity (harness.identity), part of every key
        self.refresh = refresh  # --overwrite: encode everything, store it, read nothing
        self.hits = self.misses = 0
        self._identities: dict[str, dict[str, Any]] = {}

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray:
        identity = self._identities.get(role)
        if identity is None:
            identity = self._identities[role] = encoder_identity(self.encoder, role, self.run)
        if identity["weights"] is None:  # no fingerprint: its state could change unseen
            self.misses += len(texts)
            return np.asarray(
                self.inner.encode(texts, role=role, description=description), dtype=np.float32
            )
        key = key_of(identity)
        hashes = text_hashes(texts)
        # Under torchrun rank 0 alone reads the cache and tells the others what to encode,
        # so every rank takes part in encoding the same misses.
        reads = distributed.is_main() and not self.refresh
        found, stored = self.cache.get(key, hashes) if reads else (None, None)
        if found is None and distributed.is_main():
            found = np.zeros(len(texts), dtype=bool)
        found = distributed.from_main(found)
        self.hits += int(found.sum())
        self.misses += int((~found).sum())
        if found.all() and stored is not None:
            return stored
        missing = np.flatnonzero(~found)
        fresh = np.asarray(
            self.inner.encode([texts[int(i)] for i in missing], role=role, description=description),
            dtype=np.float32,
        )
        if self.writer:
            self.cache.put(key, hashes[missing], fresh, identity)
        if stored is None:
            return fresh if len(missing) == len(texts) else _scatter(fresh, missing, len(texts))
        stored[missing] = fresh
        return stored

    def stats(self) -> dict[str, float]:
        """Hits, misses and hit rate, for a result's timings."""
        total = self.hits + self.misses
        return {
            "embedding_cache_hits": float(self.hits),
            "embedding_cache_misses": float(self.misses),
            "embedding_cache_hit_rate": self.hits / total if total else 0.0,
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["encoder"], name)


def evaluation_encoder(
    model: Any, cache_dir: Path | None, *, run: dict[str, Any] | None = None,
    refresh: bool = False,
) -> Any:  # fmt: skip
    """What a task kind encodes with: `model` sharded across ranks under torchrun
    (harness.distributed) and, when `cache_dir` is given, cached on disk there under a key
    that includes `run` (the run's model identity); `refresh` (``--overwrite``) encodes
    everything afresh and only writes the cache."""
    inner = distributed.sharded(model)
    if cache_dir is None:
        return inner
    return CachedEncoder(model, EmbeddingCache(cache_dir), inner=inner,
                         writer=distributed.is_main(), run=run, refresh=refresh)  # fmt: skip


def _scatter(rows: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, rows.shape[1]), dtype=np.float32)
    out[where] = rows
    return out
