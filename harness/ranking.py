"""Rank counting for `harness.metrics.relevant_ranks`, in bounded memory.

For every (query, relevant document) pair, count the irrelevant candidates whose
float32 score is at least the pair's threshold (the gold score minus the tie
tolerance). The corpus is read one chunk of rows at a time and scored against
one block of queries at a time, so memory holds one (query block x chunk) score
block, never the score matrix; the corpus may be a memory-mapped array.

Two ways to the same counts:

- **exact**: a float32 matrix product per block, compared with the thresholds.
- **bf16 screen** (CPUs with bfloat16 dot-product instructions, large problems):
  the block is first scored with a bfloat16 matrix product, about twice as fast
  as float32 there. A bound on its error, from the norms of each vector's
  bfloat16 rounding residual (``|q.x - q_hi.x_hi| <= |q_hi||x_lo| + |q_lo||x|``),
  the float32 accumulation and the rounding of the output, separates
  candidates that certainly score above a threshold, those certainly below,
  and a thin band in between (about +-0.005 for unit vectors), which is scored
  exactly in float32. A block whose band is wide falls back to the exact
  product. The counts are those of float32 scores either way; a self-check on
  the first block verifies the bound against exact scores and, should a kernel
  ever break it, reruns everything exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCREEN_MIN_WORK = 1 << 24
"""Screen only when queries x candidates reach this (below, the exact path is fast anyway)."""
SCREEN_MIN_DIM = 32
_BAND_FALLBACK = 1 / 16
"""A block whose band holds more than this share of its entries is scored exactly."""
_PAIR_BATCH = 8192
_DENSE_BAND = 24
"""A pair with more band candidates than this in a chunk is rescored by a matrix product."""
_TORCH_PRODUCT = 1 << 14
"""Products at least this large use torch (its threads degrade far less than OpenBLAS's on a
busy machine); smaller ones, and any without torch, use numpy."""
_U_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8 significant bits)
_RELEVANT = np.int16(-32768)  # below every bound: a key that marks a relevant candidate

BlockHook = Callable[[str, tuple[int, int]], None]
"""Called with ("exact" | "bf16", block shape) for every score block (tests watch memory)."""


def count_at_least(
    queries: np.ndarray,
    corpus: np.ndarray,
    pair_query: np.ndarray,
    pair_doc: np.ndarray,
    *,
    tie_tolerance: float,
    chunk_size: int,
    query_chunk_size: int,
    screen: bool | None = None,
    on_block: BlockHook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gold scores and, per pair, the irrelevant candidates scoring >= gold - tolerance.

    `pair_query` is sorted (the pairs of one query are adjacent); a candidate that is
    relevant to a query is never counted for it. `screen`: None decides by hardware
    and problem size, True forces the bf16 screen, False the exact path.
    """
    if screen is None:
        screen = _screen_pays(len(queries), len(corpus), queries.shape[1])
    if screen:
        try:
            return _Counter(queries, corpus, pair_query, pair_doc, tie_tolerance, on_block,
                            screen=True).run(chunk_size, query_chunk_size)  # fmt: skip
        except _BoundBroken:
            pass
    counter = _Counter(queries, corpus, pair_query, pair_doc, tie_tolerance, on_block, False)
    return counter.run(chunk_size, query_chunk_size)


class _BoundBroken(Exception):
    """The bf16 error bound did not hold on exact scores (never expected)."""


class _Counter:
    def __init__(
        self,
        queries: np.ndarray,
        corpus: np.ndarray,
        pair_query: np.ndarray,
        pair_doc: np.ndarray,
        tie_tolerance: float,
        on_block: BlockHook | None,
        screen: bool,
    ) -> None:
        self.queries, self.corpus = queries, corpus
        self.pair_query, self.pair_doc = pair_query, pair_doc
        self.on_block = on_block
        self.screen = _Bf16Screen(queries) if screen else None
        self.checked = False
        self.fallbacks = self.screened = 0
        if self.screen is not None:
            # Gold and rescued scores come from one routine, so a duplicate of a gold
            # document scores bit-for-bit like it.
            self.gold = _pair_scores(queries, corpus, pair_query, pair_doc)
        else:
            self.gold = self._gold_by_products()
        self.thresholds = (self.gold.astype(np.float64) - tie_tolerance).astype(np.float32)
        self.counts = np.zeros(len(pair_query), dtype=np.int64)

    def _gold_by_products(self) -> np.ndarray:
        """Gold scores from matrix products, like the candidate scores of the exact path."""
        gold = np.empty(len(self.pair_query), dtype=np.float32)
        step = 4096
        for start in range(0, len(gold), step):
            part = slice(start, start + step)
            rows = np.unique(self.pair_query[part])
            block = _scores(self.queries[rows], np.asarray(self.corpus[self.pair_doc[part]]))
            where = np.searchsorted(rows, self.pair_query[part])
            gold[part] = block[where, np.arange(len(where))]
        return gold

    def run(self, chunk_size: int, query_chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
        n_queries = len(self.queries)
        bounds = np.searchsorted(self.pair_query, np.arange(0, n_queries + query_chunk_size,
                                                            query_chunk_size))  # fmt: skip
        for start in range(0, len(self.corpus), chunk_size):
            chunk = np.ascontiguousarray(self.corpus[start : start + chunk_size], np.float32)
            if self.screen is not None and self._worth_screening():
                self.screen.set_chunk(chunk)
            for block, first in enumerate(range(0, n_queries, query_chunk_size)):
                p0, p1 = int(bounds[block]), int(bounds[block + 1])
                if p0 == p1:
                    continue
                rows = slice(first, min(first + query_chunk_size, n_queries))
                self._count_block(rows, chunk, start, slice(p0, p1))
        return self.gold, self.counts

    def _count_block(self, rows: slice, chunk: np.ndarray, start: int, pairs: slice) -> None:
        local_query = self.pair_query[pairs] - rows.start
        local_doc = self.pair_doc[pairs] - start
        inside = (local_doc >= 0) & (local_doc < len(chunk))
        relevant = (local_query[inside], local_doc[inside])
        screened = self.screen is not None and self._worth_screening()
        if screened and self._count_screened(rows, chunk, pairs, local_query, relevant):
            return
        scores = _scores(self.queries[rows], chunk)
        self._hook("exact", scores.shape)
        scores[relevant] = -np.inf  # relevant: never counted
        thresholds = self.thresholds[pairs]
        counts = self.counts[pairs]
        for part, pair_rows in _row_groups(local_query, len(scores)):
            block = scores if pair_rows is None else scores[pair_rows]
            counts[part] += np.count_nonzero(block >= thresholds[part, None], axis=1)

    def _worth_screening(self) -> bool:
        """Stop screening when most blocks fall back (a poor scorer: wide bands)."""
        return self.screened < 8 or self.fallbacks * 2 < self.screened

    def _count_screened(
        self, rows: slice, chunk: np.ndarray, pairs: slice, local_query: np.ndarray,
        relevant: tuple[np.ndarray, np.ndarray],
    ) -> bool:  # fmt: skip
        """Count one block through the bf16 screen; False when its band is too wide."""
        assert self.screen is not None
        self.screened += 1
        low, high, ordered = self.screen.bounds(rows, local_query, self.thresholds[pairs])
        keys = self.screen.keys(rows, ordered=ordered)
        self._hook("bf16", keys.shape)
        keys[relevant] = _RELEVANT
        limit = _BAND_FALLBACK * keys.size
        certain = np.zeros(len(local_query), dtype=np.int64)
        band_pairs, band_cols = [], []
        for part, pair_rows in _row_groups(local_query, len(keys)):
            block = keys if pair_rows is None else keys[pair_rows]
            maybe = block >= low[part, None]
            if np.count_nonzero(maybe) <= limit:  # few candidates reach the band: one by one
                at, cols = np.divmod(np.flatnonzero(maybe), block.shape[1])
                sure = block[at, cols] >= high[part][at]
                certain[part] += np.bincount(at[sure], minlength=len(block))
                at, cols = at[~sure], cols[~sure]
            else:
                certain[part] = np.count_nonzero(block >= high[part, None], axis=1)
                wide = np.flatnonzero(np.count_nonzero(maybe, axis=1) > certain[part])
                at, cols = np.nonzero(maybe[wide] & (block[wide] < high[part][wide, None]))
                at = wide[at]
            band_pairs.append(part.start + at)
            band_cols.append(cols)
            if sum(len(c) for c in band_cols) > limit:
                self.fallbacks += 1
                return False
        if not self.checked:
            self._check_bound(rows, chunk, keys, local_query, pairs, low, high)
        local = np.concatenate(band_pairs)
        cols = np.concatenate(band_cols)
        # a pair with a wide band is scored whole, as a matrix product; the others one by one
        heavy = np.flatnonzero(np.bincount(local, minlength=len(certain)) > _DENSE_BAND)
        if heavy.size:
            certain[heavy] = self._exact_counts(rows, chunk, local_query[heavy],
                                                pairs.start + heavy, relevant)  # fmt: skip
            light = ~np.isin(local, heavy)
            local, cols = local[light], cols[light]
        self.counts[pairs] += certain
        if local.size:
            pair_index = pairs.start + local
            exact = _pair_scores(self.queries, chunk, self.pair_query[pair_index], cols)
            np.add.at(self.counts, pair_index[exact >= self.thresholds[pair_index]], 1)
        return True

    def _exact_counts(
        self, rows: slice, chunk: np.ndarray, local_query: np.ndarray, pair_index: np.ndarray,
        relevant: tuple[np.ndarray, np.ndarray],
    ) -> np.ndarray:  # fmt: skip
        """Counts of some pairs from exact float32 scores of their query rows."""
        scores = _scores(self.queries[rows][local_query], chunk)
        for row, query in enumerate(local_query):
            scores[row, relevant[1][relevant[0] == query]] = -np.inf
        return np.count_nonzero(scores >= self.thresholds[pair_index, None], axis=1)

    def _check_bound(
        self, rows: slice, chunk: np.ndarray, keys: np.ndarray, local_query: np.ndarray,
        pairs: slice, low: np.ndarray, high: np.ndarray,
    ) -> None:  # fmt: skip
        """Exact scores of a few pairs must agree with their certain/impossible keys."""
        self.checked = True
        sample = np.arange(min(16, len(local_query)))
        exact = _scores(self.queries[rows][local_query[sample]], chunk)
        exact[keys[local_query[sample]] == _RELEVANT] = -np.inf
        above = exact >= self.thresholds[pairs][sample, None]
        sure = keys[local_query[sample]] >= high[sample, None]
        maybe = keys[local_query[sample]] >= low[sample, None]
        if np.any(sure & ~above) or np.any(above & ~maybe):
            raise _BoundBroken

    def _hook(self, kind: str, shape: tuple[int, ...]) -> None:
        if self.on_block is not None:
            self.on_block(kind, (int(shape[0]), int(shape[1])))


def ranks_in_scores(
    scores: np.ndarray, relevant: Sequence[Sequence[int]], *, tie_tolerance: float
) -> list[np.ndarray]:
    """Sorted 1-based pessimistic ranks of each row's `relevant` columns of a float32 score
    block, counted as the dense path counts them (`count_at_least` and
    harness.metrics.relevant_ranks): a relevant column's threshold is its float32 score
    minus `tie_tolerance`, rounded to float32; every irrelevant column at or above it
    ranks ahead of it, and a row's relevant columns take consecutive places by score.
    For models that score the corpus themselves (harness.encoder.Retriever).

    >>> [r.tolist() for r in ranks_in_scores(np.array([[3, 1, 3, 2]], np.float32), [[2]],
    ...                                      tie_tolerance=1e-6)]
    [[2]]
    """
    docs = [np.asarray(rel, dtype=np.int64) for rel in relevant]
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    pair_query = np.repeat(np.arange(len(docs)), lengths)
    pair_doc = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
    gold = scores[pair_query, pair_doc]
    thresholds = (gold.astype(np.float64) - tie_tolerance).astype(np.float32)
    masked = np.array(scores, dtype=np.float32)
    masked[pair_query, pair_doc] = -np.inf  # relevant: never counted
    at_least = np.zeros(len(pair_query), dtype=np.int64)
    for part, pair_rows in _row_groups(pair_query, len(masked)):
        block = masked if pair_rows is None else masked[pair_rows]
        at_least[part] = np.count_nonzero(block >= thresholds[part, None], axis=1)
    order = np.lexsort((-gold, pair_query))  # within each row, its relevant columns by score
    group_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    place = np.arange(len(pair_query)) - group_start[pair_query[order]]
    ranks = 1 + place + at_least[order]
    return list(np.split(ranks.astype(np.int64), np.cumsum(lengths)[:-1]))


def _row_groups(local_query: np.ndarray, n_rows: int) -> Iterator[tuple[slice, np.ndarray | None]]:
    """(pair slice, rows to gather or None) in groups of at most `n_rows` pairs.

    With one pair per query row the block is used as it is; otherwise the rows of the
    pairs are gathered, `n_rows` at a time, so a gathered block is never larger.
    """
    if len(local_query) == n_rows and np.array_equal(local_query, np.arange(n_rows)):
        yield slice(0, n_rows), None
        return
    for first in range(0, len(local_query), n_rows):
        part = slice(first, first + n_rows)
        yield part, local_query[part]


def _scores(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """`queries @ candidates.T` in float32, always as a matrix-matrix product.

    numpy switches to a matrix-vector routine when either side has one row, and
    that routine rounds differently; two rows at least keep every call on gemm.
    """
    n_queries, n_candidates = len(queries), len(candidates)
    if n_queries == 1:
        queries = np.concatenate([queries, queries])
    if n_candidates == 1:
        candidates = np.concatenate([candidates, candidates])
    torch = _torch() if len(queries) * len(candidates) >= _TORCH_PRODUCT else None
    if torch is None:
        return (queries @ candidates.T)[:n_queries, :n_candidates]
    left, right = (torch.from_numpy(np.require(m, np.float32, ["C", "W"]))
                   for m in (queries, candidates))  # fmt: skip
    return torch.mm(left, right.t()).numpy()[:n_queries, :n_candidates]


@functools.lru_cache(maxsize=1)
def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _pair_scores(
    queries: np.ndarray, corpus: np.ndarray, query_rows: np.ndarray, corpus_rows: np.ndarray
) -> np.ndarray:
    """float32 dot products of paired rows, one row pair at a time (same routine for all)."""
    out = np.empty(len(query_rows), dtype=np.float32)
    for start in range(0, len(out), _PAIR_BATCH):
        part = slice(start, start + _PAIR_BATCH)
        left = queries[query_rows[part]]
        right = np.asarray(corpus[corpus_rows[part]], dtype=np.float32)
        out[part] = (left * right).sum(axis=1, dtype=np.float32)
    return out


class _Bf16Screen:
    """bfloat16 scores of query blocks against the current chunk, as ordered int16 keys."""

    def __init__(self, queries: np.ndarray) -> None:
        import torch

        self.torch = torch
        self.dim = queries.shape[1]
        self.q_hi, hi = _to_bf16(queries, torch)
        self.q_hi_norm = _norms(hi)
        self.q_lo_norm = _norms(queries - hi)
        self.q_norm = _norms(queries)

    def set_chunk(self, chunk: np.ndarray) -> None:
        c_hi, hi = _to_bf16(chunk, self.torch)
        self.c_hi_t = c_hi.t().contiguous()  # (dim, n): the layout oneDNN multiplies fastest
        self.c_hi_max = float(_norms(hi).max(initial=0.0))
        self.c_lo_max = float(_norms(chunk - hi).max(initial=0.0))
        self.c_max = float(_norms(chunk).max(initial=0.0))

    def keys(self, rows: slice, *, ordered: bool) -> np.ndarray:
        """int16 keys of the bf16 scores of `rows` against the chunk: the raw bits, which
        order the non-negative scores (enough when every bound is positive), or `ordered`
        keys, which order all of them."""
        scores = self.torch.mm(self.q_hi[rows], self.c_hi_t)
        keys: np.ndarray = scores.view(self.torch.int16).numpy()
        if ordered:
            keys ^= (keys >> 15) & np.int16(0x7FFF)  # negative floats: reverse their order
        return keys

    def bounds(
        self, rows: slice, local_query: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(low, high, ordered): a key >= high scores >= threshold in float32, a key below
        low scores below it, keys in between are scored exactly; `ordered` keys are
        needed when some low bound is not positive."""
        index = rows.start + local_query
        gamma = (self.dim + 2) * 2.0**-24  # float32 accumulation of `dim` products
        split = (
            self.q_hi_norm[index] * self.c_lo_max + self.q_lo_norm[index] * self.c_max
            + gamma * (self.q_hi_norm[index] * self.c_hi_max + self.q_norm[index] * self.c_max)
        )  # fmt: skip
        margin = 1.001 * split + 1e-30  # norms are float32 sums: a little slack
        t = thresholds.astype(np.float64)
        top, bottom = t + margin, t - margin
        top = top + _U_BF16 * np.abs(top)  # the bf16 output is rounded to 8 bits
        bottom = bottom - _U_BF16 * np.abs(bottom)
        low = (_bf16_key(bottom, up=False) - 1).astype(np.int16)
        high = (_bf16_key(top, up=True) + 1).astype(np.int16)
        return low, high, not bool(np.all(bottom > 0))


def _to_bf16(matrix: np.ndarray, torch: Any) -> tuple[Any, np.ndarray]:
    """`matrix` rounded to bfloat16 (to nearest, ties to even): a torch tensor, and the
    same values as float32. Bit arithmetic in numpy: cheaper here than torch's cast."""
    bits = np.ascontiguousarray(matrix, dtype=np.float32).view(np.uint32)
    rounded = bits + ((bits >> 16) & 1)
    rounded += 0x7FFF
    rounded &= 0xFFFF0000
    payload = (rounded >> 16).astype(np.uint16).view(np.int16)
    return torch.from_numpy(payload).view(torch.bfloat16), rounded.view(np.float32)


def _norms(rows: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (float32 sums; callers add slack)."""
    return np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float32).astype(np.float64))


def _bf16_key(values: np.ndarray, *, up: bool) -> np.ndarray:
    """Keys of bf16 numbers at or beyond `values` (rounded up or down), as int32 to step."""
    as32 = values.astype(np.float32)
    step = np.float32(np.inf if up else -np.inf)
    off = (as32 < values) if up else (as32 > values)
    as32 = np.where(off, np.nextafter(as32, step), as32)
    bits = (as32.view(np.uint32) >> 16).astype(np.uint16).view(np.int16).astype(np.int32)
    keys = np.where(bits < 0, bits ^ 0x7FFF, bits)
    # -32768 marks relevant candidates: no bound may reach it, even after the caller's step
    return np.clip(keys, -32766, 32766)


def _screen_pays(n_queries: int, n_corpus: int, dim: int) -> bool:
    """Screen large problems on CPUs whose bf16 dot products are fast."""
    if n_queries * n_corpus < SCREEN_MIN_WORK or dim < SCREEN_MIN_DIM:
        return False
    return _cpu_has_bf16_dot()


@functools.lru_cache(maxsize=1)
def _cpu_has_bf16_dot() -> bool:
    """avx512_bf16 or amx_bf16 in /proc/cpuinfo (Linux x86); elsewhere, no screening."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if not any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16")):
        return False
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
