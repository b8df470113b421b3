"""A causal LM that puts ranked context in front of each prefix: the model `rag` and `icl` score.

The completion task kind hands the view prefixes; the view finds the
examples they belong to (it was made for one partition), asks its source for
ranked pieces, builds each prompt within the budget (:mod:`.prompt`) and lets
the base model generate. Each generation carries ``extra`` fields that the
task kind copies into the example's row: the ids of the pieces used, the
tokens they took (as ``<label>_tokens`` and as ``context_tokens``, the name
the task kind splits every prompt by) and ``context_s``, the seconds spent choosing them (the
batch's ranking time shared equally), which also count in the request's
latency: retrieval is paid at every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.data import CompletionExample
from harness.errors import HarnessError
from harness.plugins.rag.prompt import Piece, Prompt, TokenCounter, assemble


class ContextSource(Protocol):
    """Ranks context pieces for examples; `label` names the row fields (``retrieved``)."""

    label: str

    def rank(
        self, prefixes: Sequence[str], examples: Sequence[Sequence[CompletionExample]]
    ) -> list[list[Piece]]:
        """Best first, for each prefix; never a piece from one of the prefix's `examples`."""
        ...


@dataclass(frozen=True)
class AugmentedGeneration:
    """A base generation with the fields the task kind adds to the example's row."""

    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class AugmentedLM:
    """The base causal LM behind a context source; anything else is the base's."""

    kind = "causal-lm"

    def __init__(
        self,
        base: Any,
        examples: Sequence[CompletionExample],
        source: ContextSource,
        *,
        k: int,
        budget: int | None,
        info: dict[str, Any],
    ) -> None:
        self.base = base
        self.name = base.name
        self.source = source
        self.k, self.budget = k, budget
        self.info = {**base.info, **info}
        self.counter = TokenCounter(base)
        self._by_prefix: dict[str, list[CompletionExample]] = {}
        for example in examples:
            self._by_prefix.setdefault(example.prefix, []).append(example)
        self.last_prompts: list[Prompt] = []  # for tests and inspection

    def __getattr__(self, name: str) -> Any:
        if name == "base":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.base, name)

    def prompt_limit(self, context_tokens: int, max_new_tokens: int) -> int:
        """The prompt length the base model allows (as `CausalLM.generate` computes it)."""
        limit = getattr(self.base, "context_limit", None)
        if limit:
            return min(context_tokens, max(1, int(limit) - max_new_tokens))
        return context_tokens

    def prompts(
        self, prefixes: Sequence[str], *, context_tokens: int, max_new_tokens: int
    ) -> tuple[list[Prompt], float]:
        """The prompts for `prefixes` and the seconds it took to rank and build them."""
        started = time.perf_counter()
        groups = []
        for prefix in prefixes:
            group = self._by_prefix.get(prefix)
            if group is None:
                raise HarnessError(
                    f"{self.source.label}: a prefix that is not among the partition's "
                    "examples was passed to the model (the view is made per partition)"
                )
            groups.append(group)
        ranked = self.source.rank(prefixes, groups)
        limit = self.prompt_limit(context_tokens, max_new_tokens)
        built = [
            assemble(prefix, pieces, limit=limit, budget=self.budget, k=self.k,
                     counter=self.counter)
            for prefix, pieces in zip(prefixes, ranked, strict=True)
        ]  # fmt: skip
        return built, time.perf_counter() - started

    def generate(
        self,
        prefixes: Sequence[str],
        *,
        max_new_tokens: int,
        context_tokens: int,
        stop: Callable[[str], int | None] | None = None,
        batch_size: int = 8,
        description: str = "generating",
    ) -> list[AugmentedGeneration]:
        prompts, seconds = self.prompts(
            prefixes, context_tokens=context_tokens, max_new_tokens=max_new_tokens
        )
        self.last_prompts = prompts
        generations = self.base.generate(
            [p.text for p in prompts],
            max_new_tokens=max_new_tokens,
            context_tokens=context_tokens,
            stop=stop,
            batch_size=batch_size,
            description=description,
        )
        share = seconds / max(1, len(prompts))
        label = self.source.label
        return [
            AugmentedGeneration(
                text=g.text,
                prompt_tokens=g.prompt_tokens,
                new_tokens=g.new_tokens,
                seconds=g.seconds + share,
                extra={
                    label: p.used,
                    f"{label}_tokens": p.context_tokens,
                    "context_tokens": p.context_tokens,  # the task kind's name for any context
                    "context_s": round(share, 6),
                },
            )
            for g, p in zip(generations, prompts, strict=True)
        ]
