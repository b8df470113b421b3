"""A repository's chunk index: embeddings of its chunks, built once and cached.

``<cache_dir>/rag/<key>/`` holds ``chunks.jsonl`` (id, path, start, end,
text), ``embeddings.npy`` (float32, one L2-normalised row per chunk) and
``meta.json`` (the seconds the build took, counts). The key hashes the
encoder and its options, the chunking settings and every indexed file's
path, size and modification time, so an edited repository is re-indexed.
Written under a temporary name and renamed into place when whole.

Search is exact: cosine similarity to every chunk, best first, ties by chunk
order (the order the chunks were indexed in).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import publishing
from harness.errors import InputError
from harness.jsonl import jsonl_rows
from harness.plugins.rag.chunks import Chunk


@dataclass
class ChunkIndex:
    chunks: list[Chunk]
    embeddings: np.ndarray
    build_s: float
    key: str
    cached: bool = False

    def search(
        self, queries: np.ndarray, n: int, excluded_paths: Sequence[set[str]]
    ) -> list[list[int]]:
        """For each query row, the indices of its `n` best chunks outside its excluded paths."""
        if not self.chunks:
            return [[] for _ in range(len(queries))]
        scores = queries.astype(np.float32) @ self.embeddings.T
        found = []
        for row, excluded in zip(scores, excluded_paths, strict=True):
            order = np.argsort(-row, kind="stable")
            picked = []
            for index in order:
                if self.chunks[int(index)].path not in excluded:
                    picked.append(int(index))
                    if len(picked) == n:
                        break
            found.append(picked)
        return found


def index_key(root: Path, chunks: Sequence[Chunk], identity: dict[str, Any]) -> str:
    """A hash of what determines the embeddings: `identity` and each indexed file's state."""
    files = []
    for path in sorted({c.path for c in chunks}):
        try:
            stat = (root / path).stat()
            files.append([path, stat.st_size, stat.st_mtime_ns])
        except OSError:
            files.append([path, -1, -1])
    text = json.dumps(
        {"identity": identity, "root": str(root), "files": files, "n": len(chunks)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read(folder: Path, key: str) -> ChunkIndex | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        chunks = [Chunk(**row) for _, row in jsonl_rows(folder / "chunks.jsonl")]
        embeddings = np.load(folder / "embeddings.npy")
    except (OSError, ValueError, TypeError, KeyError, InputError):
        return None  # a damaged cache entry is rebuilt
    if len(chunks) != len(embeddings):
        return None
    return ChunkIndex(chunks, embeddings, float(meta["build_s"]), key, cached=True)


def load_or_build(
    cache_dir: Path,
    root: Path,
    chunks: list[Chunk],
    encoder: Any,
    identity: dict[str, Any],
    *,
    description: str = "indexing",
) -> ChunkIndex:
    """The cached index of `chunks`, or a new one encoded with `encoder` and cached."""
    key = index_key(root, chunks, identity)
    folder = cache_dir / "rag" / key
    if (folder / "meta.json").exists():
        found = _read(folder, key)
        if found is not None:
            return found
    started = time.perf_counter()
    if chunks:
        texts = [c.embedded_text() for c in chunks]
        embeddings = np.asarray(
            encoder.encode(texts, role="code", description=description), dtype=np.float32
        )
    else:
        embeddings = np.zeros((0, int(getattr(encoder, "dim", 1))), dtype=np.float32)
    build_s = time.perf_counter() - started
    # a name of its own: two processes may build one index at once (the last rename wins)
    with publishing(folder, folder.with_name(f".{key}-{uuid.uuid4().hex[:8]}")) as temporary:
        with (temporary / "chunks.jsonl").open("w", encoding="utf-8") as out:
            for chunk in chunks:
                out.write(json.dumps(asdict(chunk)) + "\n")
        np.save(temporary / "embeddings.npy", embeddings)
        meta = {"build_s": build_s, "n_chunks": len(chunks), "identity": identity,
                "root": str(root), "files": len({c.path for c in chunks})}  # fmt: skip
        (temporary / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return ChunkIndex(chunks, embeddings, build_s, key)
