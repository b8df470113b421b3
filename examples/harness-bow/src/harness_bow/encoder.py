"""The ``bow`` encoder: a bag of identifier words, hashed into a fixed number of buckets.

Identifiers are split into words (``read_file``, ``readFile`` -> ``read``, ``file``),
lower-cased, and each word adds one to the bucket a stable hash (BLAKE2b) gives it;
rows are L2-normalised, so a dot product is a cosine. No model, no download, no
torch: deterministic on every machine.

>>> words("readFile read_file getHTTPResponse_2")
['read', 'file', 'read', 'file', 'get', 'http', 'response', '2']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.encoder import EncoderOptions
from harness.errors import HarnessError

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(text: str) -> list[str]:
    """The lower-case words of identifiers and prose, in order."""
    return [word.lower() for word in _WORD.findall(text)]


def bucket(word: str, dim: int) -> int:
    """The word's bucket: a stable hash (Python's own `hash` changes with every process)."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % dim


class BagOfWords:
    """What harness expects of an encoder: ``name``, ``dim``, ``info`` and ``encode``."""

    def __init__(self, dim: int = 256) -> None:
        self.name = "bow"
        self.dim = dim
        # `info` goes into every result: what determines the embeddings.
        self.info: dict[str, Any] = {"model": "bow", "dim": dim, "hash": "blake2b-64"}

    def fingerprint(self) -> str:
        """What determines the embeddings beyond `info`: this module's code. harness keys
        its embedding cache by it, so a changed encoder is never served old embeddings."""
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
        return f"bow-{self.dim}-{code}"

    def encode(
        self, texts: Sequence[str], *, role: str = "code", description: str = "encoding"
    ) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text):
                rows[row, bucket(word, self.dim)] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.maximum(norms, 1e-12)  # a text without words stays all zeros


def build(argument: str | None, options: EncoderOptions) -> BagOfWords:
    """The registered factory: ``factory(argument, options) -> encoder``."""
    dim = options.extra.get("dim", 256)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise HarnessError(f"encoder bow: dim must be a positive integer, not {dim!r}")
    return BagOfWords(dim)
