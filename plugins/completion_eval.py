"""Task kind `completion`: greedy completion of each prefix, scored by exact match.

Both metrics compare the prediction and the target after one documented
normalisation, :func:`normalise`: surrounding whitespace is removed and every
run of whitespace (spaces, tabs, newlines) becomes one space. Nothing else is
changed: ``'a'`` and ``"a"`` differ, as do ``1.0`` and ``1.``, because an
assertion's expected value is compared as code.

- ``exact_match``: 1 when the normalised prediction equals the normalised
  target, else 0.
- ``edit_similarity``: 1 - Levenshtein(pred, target) / max(len(pred),
  len(target)) over the normalised strings (characters), 1 when both are
  empty; CodeXGLUE-style, but with plain Levenshtein distance.

The model generates greedily from the prefix, left-truncated to
``context_tokens`` tokens, for at most ``max_new_tokens`` tokens, stopping
at the end of the expression (the causal-LM plugin's ``expression_stop``: inside
an open bracket, as after ``assertEqual(x, ``, a line break ends nothing).
Each example's JSONL row keeps the prediction, the target, where its answer
can be found (``answer_source``, None when the data does not say), the
prompt's token count and its split (``context_tokens``: what a strategy's
view put in front, its generation's ``extra["context_tokens"]``, 0 without
one; ``prefix_tokens``: the rest, the test file's share with the start
token) and the generation latency, plus any ``extra`` fields a
strategy's generations carry (``rag``: the retrieved chunk ids); the
timings add the model's one-off costs (``harness.cost``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from harness.cost import one_off_costs, one_off_timings
from harness.data import CompletionExample
from harness.errors import HarnessError
from harness.task_kind import Evaluation, EvaluationOptions

DEFAULTS: dict[str, int] = {"max_new_tokens": 48, "context_tokens": 1024, "batch_size": 8}


def normalise(text: str) -> str:
    """Strip, and collapse each run of whitespace to one space."""
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def exact_match(prediction: str, target: str) -> float:
    return float(normalise(prediction) == normalise(target))


def edit_similarity(prediction: str, target: str) -> float:
    p, t = normalise(prediction), normalise(target)
    longest = max(len(p), len(t))
    return 1.0 if longest == 0 else 1.0 - levenshtein(p, t) / longest


METRICS = {"exact_match": exact_match, "edit_similarity": edit_similarity}
"""What this task kind computes by default (the built-in metrics plugin registers these
functions; a run hands the task kind the registered ones)."""


def _positive_int(options: dict[str, Any], name: str) -> int:
    value = options.get(name, DEFAULTS[name])
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise HarnessError(f"task.{name}: expected a positive integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise HarnessError(f"task.{name}: expected a positive integer, got {value!r}") from None
    if number < 1:
        raise HarnessError(f"task.{name}: expected a positive integer, got {value!r}")
    return number


def generation_settings(options: dict[str, Any]) -> dict[str, int]:
    """``max_new_tokens``, ``context_tokens``, ``batch_size``: card, then ``--set task.*``."""
    return {name: _positive_int(options, name) for name in DEFAULTS}


class Completion:
    name = "completion"

    def evaluate(
        self, model: Any, split: Sequence[CompletionExample], options: EvaluationOptions
    ) -> Evaluation:
        if getattr(model, "kind", None) != "causal-lm" or not hasattr(model, "generate"):
            raise HarnessError(
                f"model {getattr(model, 'name', type(model).__name__)!r} is not a causal LM: "
                "a completion task needs one (harness list: the models of kind causal-lm)"
            )
        if not split:
            raise HarnessError("the evaluation split has no examples")
        settings = generation_settings(options.extra)
        from harness.plugins.completion_stopping import expression_stop

        started = time.perf_counter()
        generations = model.generate(
            [e.prefix for e in split],
            max_new_tokens=settings["max_new_tokens"],
            context_tokens=settings["context_tokens"],
            stop=[expression_stop(e.prefix) for e in split],
            batch_size=settings["batch_size"],
            description="completing",
        )
        seconds = time.perf_counter() - started
        if len(generations) != len(split):
            raise HarnessError(f"model returned {len(generations)} completions for {len(split)}")
        functions = options.metrics or METRICS  # each: f(prediction, target) -> float
        rows = []
        for example, generation in zip(split, generations, strict=True):
            prediction = generation.text.strip()
            scores = {name: f(prediction, example.target) for name, f in functions.items()}
            rows.append(
                {
                    "id": example.id,
                    **scores,
                    "prediction": prediction,
                    "target": example.target,
                    "answer_source": example.answer_source,  # None: the data does not say
                    "prompt_tokens": generation.prompt_tokens,
                    "new_tokens": generation.new_tokens,
                    "latency_s": round(generation.seconds, 6),
                }
            )
            # a strategy's view may add fields (rag: the retrieved chunk ids); never over ours
            extra = getattr(generation, "extra", None) or {}
            rows[-1].update({k: v for k, v in extra.items() if k not in rows[-1]})
            # the prompt's split: what the view added in front, and the prefix's share
            rows[-1]["context_tokens"] = int(extra.get("context_tokens", 0))
            rows[-1]["prefix_tokens"] = generation.prompt_tokens - rows[-1]["context_tokens"]
        prompt_tokens = sum(r["prompt_tokens"] for r in rows)
        context_tokens = sum(r["context_tokens"] for r in rows)
        return Evaluation(
            per_example=rows,
            n_candidates=0,
            timings={
                "generate_s": seconds,
                "prompt_tokens_total": float(prompt_tokens),
                "prompt_tokens_mean": prompt_tokens / len(rows),
                "context_tokens_total": float(context_tokens),
                "prefix_tokens_total": float(prompt_tokens - context_tokens),
                "latency_mean_s": seconds / len(rows),
                **one_off_timings(one_off_costs(getattr(model, "info", None) or {})),
            },
        )
