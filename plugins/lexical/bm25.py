"""Model ``bm25``: Okapi BM25 over code-aware words, fitted on the corpus it ranks.

A `harness.encoder.Retriever`: the retrieval task kind hands it a partition's
corpus (``index``), then blocks of queries (``score``). The index is bm25s's
(eager sparse scores, numpy backend). Variant: Lucene's (bm25s's default, and
what Lucene, Elasticsearch and Pyserini compute), for a query ``q`` and document ``d``

    score(q, d) = sum over the words t of q (a repeated word counts again) of
        idf(t) * tf(t, d) / (tf(t, d) + k1 (1 - b + b |d| / avgdl)),
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

with N documents, df(t) of them holding t, |d| the words of d and avgdl their mean.
Its idf never goes negative (Robertson's does for words in more than half the
documents). ``--set encoder.method=`` picks another of bm25s's variants (robertson,
atire, bm25l, bm25+; ``delta`` for the last two). Defaults k1 = 1.5, b = 0.75, as in
bm25s and MTEB's BM25. Words: `harness.plugins.lexical.code_words`.

Nothing is cached: indexing a corpus takes about as long as reading its embeddings
back would, so the embedding cache never wraps this model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from typing import Any

import numpy as np

from harness.encoder import EncoderOptions, Role
from harness.errors import HarnessError
from harness.options import from_dataclass
from harness.plugins.lexical.code_words import CodeWords

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


@dataclass(frozen=True)
class Settings:
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    delta: float = 0.5
    stopwords: str = "en"
    stemmer: str = "english"
    split_identifiers: bool = True


OPTIONS = from_dataclass(
    Settings,
    helps={
        "k1": "term-frequency saturation, a finite number >= 0",
        "b": "document-length normalisation, from 0 (none) to 1 (full)",
        "method": f"bm25s's variant: {', '.join(METHODS)}",
        "delta": "bm25l and bm25+ only: what every matching word adds, >= 0",
        "stopwords": "en (bm25s's English list, Lucene's) or none",
        "stemmer": "a Snowball stemmer for the words (english) or none",
        "split_identifiers": "identifiers as their parts and whole (false: whole only)",
    },
)


def _number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        bound = f"from {low:g} to {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise HarnessError(f"--set encoder.{name}={value!r}: expected a finite number {bound}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise HarnessError(f"--set encoder.{name}={value!r}: expected true or false")
    return value


def settings_from(extra: dict[str, Any]) -> Settings:
    """The settings of `extra` (``--set encoder.*``), checked; a bad one is a one-line error."""
    settings = Settings(**{**asdict(Settings()), **extra})
    if settings.method not in METHODS:
        raise HarnessError(
            f"--set encoder.method={settings.method!r}: expected one of {', '.join(METHODS)}"
        )
    return Settings(
        k1=_number("k1", settings.k1, 0.0),
        b=_number("b", settings.b, 0.0, 1.0),
        method=settings.method,
        delta=_number("delta", settings.delta, 0.0),
        stopwords=str(settings.stopwords),
        stemmer=str(settings.stemmer),
        split_identifiers=_flag("split_identifiers", settings.split_identifiers),
    )


class BM25:
    """BM25 fitted on the last corpus given to `index`; `score` ranks against it."""

    name = "bm25"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.words = CodeWords(settings.stopwords, settings.stemmer, settings.split_identifiers)
        self._index: Any = None
        self._size: int | None = None
        self.info: dict[str, Any] = {
            "model": "bm25",
            "library": f"bm25s {version('bm25s')}",
            "variant": settings.method,
            "k1": settings.k1,
            "b": settings.b,
            **({"delta": settings.delta} if settings.method in ("bm25l", "bm25+") else {}),
            "words": "identifier parts and whole identifiers, lower-cased"
            if settings.split_identifiers
            else "runs of letters, digits and _, lower-cased",
            "stopwords": settings.stopwords,
            "stemmer": settings.stemmer,
            **(
                {"stemmer_library": f"PyStemmer {version('PyStemmer')}"}
                if settings.stemmer != "none"
                else {}
            ),  # fmt: skip
            "device": "cpu",
        }

    def index(self, corpus: Sequence[str]) -> None:
        import bm25s

        tokens = self.words.many(corpus)
        self._size = len(corpus)
        self._index = None
        if any(tokens):  # bm25s needs one word at least; with none, every score is 0
            s = self.settings
            self._index = bm25s.BM25(k1=s.k1, b=s.b, delta=s.delta, method=s.method)
            self._index.index(tokens, show_progress=False)

    def score(self, queries: Sequence[str], *, role: Role = "query") -> np.ndarray:
        """(len(queries), corpus size) float32 BM25 scores; words the corpus lacks score 0."""
        if self._size is None:
            raise HarnessError("bm25: score() before index(): no corpus to rank")
        out = np.zeros((len(queries), self._size), dtype=np.float32)
        if self._index is None:
            return out
        for row, query in enumerate(queries):
            ids = self._index.get_tokens_ids(self.words(query))
            out[row] = self._index.get_scores_from_ids(ids)
        return out


def build(argument: str | None, options: EncoderOptions) -> BM25:
    return BM25(settings_from(dict(options.extra)))
