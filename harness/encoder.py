"""What the core expects of an encoder plugin (a protocol, no torch here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Role = Literal["query", "code"]


@dataclass
class EncoderOptions:
    """Options every encoder factory accepts.

    device: "auto" picks cuda when present, else cpu.
    max_length: tokens per text; None: the model's own (a sentence-transformers folder's
    ``max_seq_length``, else the encoder's default); a given value wins over the folder's.
    pooling: None keeps the encoder's own choice (its folder's pooling mode, else its
    default: sentence-transformers' names, mean, cls, max, lasttoken, ...).
    extra: the model's own ``--set encoder.*`` options, as it declares them.
    """

    device: str = "auto"
    max_length: int | None = None
    batch_size: int = 32
    pooling: str | None = None
    dtype: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    """--trust-remote-code: a hub model may run code it ships (never from ``--set``)."""
    cache_dir: Path | None = None
    """harness's cache (--cache-dir): where a model a plugin makes itself is kept."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 embeddings, one row per text.

    ``info`` describes what determines the embeddings (model id or path,
    revision, pooling, max length, device, dtype) and is recorded in results.
    """

    name: str
    dim: int
    info: dict[str, Any]

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray: ...


@runtime_checkable
class Retriever(Protocol):
    """A model fitted on the corpus it ranks (BM25, a sparse or late-interaction model).

    The retrieval task kind calls ``index(corpus)`` with every candidate text of what
    it ranks (a partition, or one pool of it), then ``score(queries, role=...)`` for
    blocks of queries: a (len(queries), len(corpus)) float32 matrix of finite scores,
    higher is better, column j for ``corpus[j]`` of the last ``index`` call. The task
    kind ranks them with the tie rule the dense path uses (harness.metrics). A model
    with ``index`` and ``score`` is scored this way, even when it can also ``encode``;
    the embedding cache never wraps it. ``info`` is recorded in results, as an
    encoder's is.
    """

    name: str
    info: dict[str, Any]

    def index(self, corpus: Sequence[str]) -> None: ...

    def score(self, queries: Sequence[str], *, role: Role = "query") -> np.ndarray: ...


class EncoderFactory(Protocol):
    """A registered encoder target: ``factory(argument, options) -> Encoder``.

    `argument` is the part after a prefix (``hf:<id-or-path>``), else None.
    """

    def __call__(self, argument: str | None, options: EncoderOptions) -> Encoder | Retriever: ...
