"""What `icl` shows: other assertions of the same repository, with their answers.

The pool (:func:`pool_for`): in-repo, the repository's in-repo training
examples (``partition.train``); cross-repo, where a repository has no
training split, the repository's other evaluated examples. Either way an
example never sees as a demonstration (:func:`conflicts`):

- itself, or another example of the same assertion line (same test file and
  line);
- an example of the same test file whose shown lines (the last
  ``demo_lines`` lines of its prefix and its target) include one of the
  example's target lines: that would show the answer;
- an example of the same assertion statement (whitespace aside) anywhere in
  the pool: the same question with its answer (``harness.data.same_statement``:
  mined examples carry the statement's key; RepoPeftBench's are compared by
  the prefix's last line and the target).

A repeated expected value in another assertion is not excluded: it is
repository knowledge, as a retrieved chunk would be.

A demonstration is written as a comment naming it, the last ``demo_lines``
lines of its prefix, its target, and a blank line. Ranking
(:func:`rank_demonstrations`): ``similar`` orders the pool by the Jaccard
overlap of word sets (``\\w+``) between the example's query (the last
``query_lines`` lines of its prefix) and the demonstration's shown prefix
lines, best first, ties by id; ``random`` is a seeded shuffle per example.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from typing import Any

from harness.data import CompletionExample, same_statement
from harness.plugins.rag.prompt import Piece

WORD = re.compile(r"\w+")


def last_lines(text: str, n: int) -> str:
    """The last `n` lines of `text` (its last line may be unfinished).

    >>> last_lines("a\\nb\\nc", 2)
    'b\\nc'
    """
    return "\n".join(text.split("\n")[-n:])


def pool_for(partition: Any, protocol: str) -> list[CompletionExample]:
    """Where demonstrations come from: the in-repo training split, else the other evaluated
    examples of the repository (cross-repo)."""
    return list(partition.train) if protocol == "in" else list(partition.eval)


def _target_lines(example: CompletionExample) -> range:
    return range(example.line, example.line + example.target.count("\n") + 1)


def _shown_lines(example: CompletionExample, demo_lines: int) -> range:
    return range(example.line - demo_lines + 1, example.line + example.target.count("\n") + 1)


def conflicts(example: CompletionExample, demo: CompletionExample, demo_lines: int) -> bool:
    """True when `demo` must not be shown to `example` (see the module docstring)."""
    if demo.id == example.id:
        return True
    if same_statement(example, demo):
        return True
    if demo.repo != example.repo or demo.test_file != example.test_file:
        return False
    if demo.line == example.line:
        return True
    shown = _shown_lines(demo, demo_lines)
    return any(line in shown for line in _target_lines(example))


def demonstration(demo: CompletionExample, demo_lines: int) -> Piece:
    shown = last_lines(demo.prefix, demo_lines)
    header = f"# example: {demo.test_file}, line {demo.line}\n" if demo.test_file else ""
    return Piece(demo.id, f"{header}{shown}{demo.target}\n\n")


def _words(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(text))


def _seeded_order(pool: Sequence[CompletionExample], seed: int, key: str) -> list[int]:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    order = list(range(len(pool)))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


class Demonstrations:
    """The `icl` context source: ranked demonstrations from one repository's pool."""

    label = "demonstrations"

    def __init__(
        self,
        pool: Sequence[CompletionExample],
        *,
        k: int,
        query_lines: int,
        demo_lines: int,
        select: str,
        seed: int,
    ) -> None:
        self.pool = list(pool)
        self.k, self.query_lines, self.demo_lines = k, query_lines, demo_lines
        self.select, self.seed = select, seed
        self._words = [_words(last_lines(d.prefix, demo_lines)) for d in self.pool]

    def rank(
        self, prefixes: Sequence[str], examples: Sequence[Sequence[CompletionExample]]
    ) -> list[list[Piece]]:
        return [self._rank(p, group) for p, group in zip(prefixes, examples, strict=True)]

    def _rank(self, prefix: str, group: Sequence[CompletionExample]) -> list[Piece]:
        allowed = [
            i
            for i, demo in enumerate(self.pool)
            if not any(conflicts(e, demo, self.demo_lines) for e in group)
        ]
        if self.select == "random":
            order = _seeded_order(self.pool, self.seed, group[0].id)
            position = {i: n for n, i in enumerate(order)}
            allowed.sort(key=lambda i: position[i])
        else:
            query = _words(last_lines(prefix, self.query_lines))

            def similarity(i: int) -> float:
                union = len(query | self._words[i])
                return len(query & self._words[i]) / union if union else 0.0

            allowed.sort(key=lambda i: (-similarity(i), self.pool[i].id))
        # a few spares: a demonstration that does not fit the budget is skipped
        return [demonstration(self.pool[i], self.demo_lines) for i in allowed[: 4 * self.k]]
