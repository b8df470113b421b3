"""Deterministic splits by file, deduplication, and seeded sampling.

A file's split depends only on the seed and its key (``repo/path``), so every
pair of a file lands in the same split and no file is in two splits::

    h = int(sha256(f"{seed}:{file_key}")[:8 bytes], big endian) / 2**64
    test if h < test_fraction, valid if h < test_fraction + valid_fraction, else train

>>> split_of("stdlib/json/decoder.py", seed=0) in SPLITS
True
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

from harness.plugins.local_dataset.pairs import Pair, normalise_whitespace

SPLITS = ("train", "valid", "test")


def unit_hash(text: str) -> float:
    """A number in [0, 1) from the first 8 bytes of the SHA-256 of `text`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(
    file_key: str, seed: int, *, valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for every pair of the file `file_key`."""
    h = unit_hash(f"{seed}:{file_key}")
    if h < test_fraction:
        return "test"
    if h < test_fraction + valid_fraction:
        return "valid"
    return "train"


def mining_order(file_keys: Iterable[str], seed: int) -> list[str]:
    """The keys in a seeded pseudo-random order, independent of the split hash.

    Mining stops once enough pairs are found, so the order decides which files
    are read; a hash of its own keeps it from favouring one split.
    """
    return sorted(file_keys, key=lambda key: (unit_hash(f"order:{seed}:{key}"), key))


def code_key(code: str) -> str:
    """Two pairs with the same code key are duplicates: code with whitespace normalised."""
    return normalise_whitespace(code)


def query_key(pair: Pair) -> tuple[str, str]:
    """Two pairs of one language with the same query key have an ambiguous query."""
    return pair.language, normalise_whitespace(pair.query).casefold().rstrip(".")


def dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    """Pairs sorted by (repo, path, line), later duplicates dropped.

    A pair is dropped when an earlier one has the same code (whitespace aside,
    whatever the query: this covers same query and code), or, in the same
    language, the same query (case, whitespace and a final period aside: a
    query that fits several functions cannot pick out its code), or the same
    url.
    """
    seen_code: set[str] = set()
    seen_query: set[tuple[str, str]] = set()
    seen_url: set[str] = set()
    kept = []
    for pair in sorted(pairs, key=lambda p: (p.repo, p.path, p.line, p.code)):
        code, query = code_key(pair.code), query_key(pair)
        if code in seen_code or query in seen_query or pair.url in seen_url:
            continue
        seen_code.add(code)
        seen_query.add(query)
        seen_url.add(pair.url)
        kept.append(pair)
    return kept


def sample(pairs: list[Pair], limit: int, seed: int, label: str) -> list[Pair]:
    """At most `limit` of `pairs`, chosen and ordered by a seeded shuffle.

    The input is sorted first, so the result depends only on the set of pairs,
    the seed and `label` (e.g. ``"python/test"``); the shuffled order makes the
    first N of a stored split a fair sample for ``--limit``.
    """
    ordered = sorted(pairs, key=lambda p: (p.repo, p.path, p.line))
    rng = random.Random(f"{seed}:{label}")
    return rng.sample(ordered, min(limit, len(ordered)))
