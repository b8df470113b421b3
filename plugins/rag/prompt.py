"""A prompt of retrieved context and the prefix, never longer than the token budget.

The rule (:func:`assemble`), with C the prompt limit in tokens (the task's
``context_tokens``, lowered as the model lowers it so that prompt plus
``max_new_tokens`` fits its positions) and B the strategy's ``budget``
(default: half of ``C - s``):

1. the prefix is guaranteed ``min(its length, C - s - B)`` tokens (s: the
   model's start token, 0 or 1): the added context never takes more than B
   tokens away from what the prefix would get alone;
2. the pieces (chunks or demonstrations) are taken best first, at most k,
   each whole: one that does not fit in what the prefix leaves is dropped and
   the next one is tried;
3. the prefix gets every token the pieces leave, cut from the left;
4. the pieces are written worst first, so the best one stands next to the
   prefix, then the prefix; the whole prompt is counted with the model's own
   tokenizer, and while a token merge across a boundary makes it longer than
   C, the prefix loses the excess from the left (then, were it empty, the
   worst piece goes).

So a short prefix leaves its room to the context, a long one is cut to
``C - s - B`` tokens at worst, and the prompt never exceeds C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

UNLIMITED = 1 << 30


class TokenCounter:
    """Counts tokens exactly as a `CausalLM` feeds them (``prompt_ids``: start token included).

    >>> counter = TokenCounter(lm)  # doctest: +SKIP
    >>> counter.count("x = 1") == len(lm.prompt_ids("x = 1", 10**9))  # doctest: +SKIP
    True
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tokenizer = model.tokenizer
        self.overhead = len(model.prompt_ids("", UNLIMITED))  # a start token, if any

    def count(self, text: str) -> int:
        """Tokens of `text` as a whole prompt (start token included)."""
        return len(self.model.prompt_ids(text, UNLIMITED))

    def plain(self, text: str) -> int:
        """Tokens of `text` alone, no special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def tail(self, text: str, n: int) -> str:
        """The end of `text` that its last `n` tokens cover ("" for n <= 0)."""
        if n <= 0 or not text:
            return ""
        encoded = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets = encoded["offset_mapping"]
        if n >= len(offsets):
            return text
        return text[offsets[-n][0] :]


@dataclass(frozen=True)
class Piece:
    """One unit of added context: a chunk or a demonstration, formatted, ending in a newline."""

    id: str
    text: str


@dataclass
class Prompt:
    text: str
    used: list[str] = field(default_factory=list)
    """Ids of the pieces in the prompt, best first."""
    tokens: int = 0
    """The whole prompt, counted as the model counts it."""
    context_tokens: int = 0
    """What the pieces take (each counted alone)."""


def assemble(
    prefix: str,
    pieces: Sequence[Piece],
    *,
    limit: int,
    budget: int | None,
    k: int,
    counter: TokenCounter,
) -> Prompt:
    """The prompt for `prefix` with the best of `pieces` (ranked best first); see the module."""
    alone = limit - counter.overhead  # what the prefix would get without context
    budget = alone // 2 if budget is None else budget
    if budget >= alone:
        raise HarnessError(
            f"strategy option budget ({budget}) must be below the prompt limit ({limit} tokens: "
            "the task's context_tokens, or the model's positions minus max_new_tokens)"
        )
    room = alone - min(counter.plain(prefix), alone - budget)
    taken: list[tuple[Piece, int]] = []
    used = 0
    for piece in pieces:
        if len(taken) == k:
            break
        size = counter.plain(piece.text)
        if used + size <= room:
            taken.append((piece, size))
            used += size
    kept = counter.tail(prefix, alone - used)
    while True:
        context = "".join(piece.text for piece, _ in reversed(taken))
        total = counter.count(context + kept)
        if total <= limit:
            break
        if kept:
            shorter = counter.tail(kept, counter.plain(kept) - (total - limit))
            # tokens that share one character (bytes of one emoji) can make no progress
            kept = shorter if len(shorter) < len(kept) else kept[1:]
        else:
            taken.pop()
    return Prompt(
        text=context + kept,
        used=[piece.id for piece, _ in taken],
        tokens=total,
        context_tokens=sum(size for _, size in taken),
    )
