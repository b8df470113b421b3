"""The controls every hypernetwork result carries, and the views that score them.

- **Diversity**: the mean pairwise cosine of the adapters generated for the
  evaluated repositories, over their flattened factors (A and B of every
  module) and over their weight updates ``B A``. A hypernetwork whose adapters
  are all alike (cosine at or above `collapse_cosine`, 0.99 by default) is
  flagged ``collapsed``: whatever it gains is a generic adapter's gain
  ("conditioning collapse", cosine 0.998 in an audit of Code2LoRA's release).
- **Shuffled repository**: each repository scored with another repository's
  adapter (a seeded derangement; with one repository, a training
  repository's). The drop from the real adapter is the repository-specific
  gain.
- **Mean adapter**: every repository scored with the mean of the generated
  updates (exactly: the factors stacked into one LoRA of rank n x r).

The per-example scores of each control go into the result (``encoder_info``),
so each control can be paired with the hypernetwork's own scores.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.plugins.hypernet.functional import (
    AdaptedModel,
    Adapters,
    mean_off_diagonal,
    pairwise_cosines,
    update_cosines,
)


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation of range(n) that moves every index (identity for n < 2).

    >>> order = derangement(5, 0)
    >>> sorted(order) == list(range(5)) and all(i != j for i, j in enumerate(order))
    True
    """
    if n < 2:
        return list(range(n))
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            return [int(i) for i in order]


def diversity(adapters: Adapters, threshold: float) -> dict[str, Any]:
    """Mean pairwise cosines of `adapters` (one per repository) and the collapse flag."""
    factors = mean_off_diagonal(pairwise_cosines(adapters.flat()))
    updates = mean_off_diagonal(update_cosines(adapters))
    return {
        "n_adapters": adapters.count,
        "mean_cosine": None if factors is None else round(factors, 6),
        "mean_update_cosine": None if updates is None else round(updates, 6),
        "collapse_cosine": threshold,
        "collapsed": factors is not None and factors >= threshold,
    }


def adapted_view(lm: Any, adapter: Adapters, targets: Sequence[Any], info: dict[str, Any]) -> Any:
    """A copy of the causal LM that runs its frozen model with `adapter` applied."""
    view = copy.copy(lm)
    view.model = AdaptedModel(lm.model, targets, adapter)
    view.info = info
    return view


def per_example_view(
    lm: Any,
    adapter_of: Callable[[str], Adapters],
    default: Adapters,
    targets: Sequence[Any],
    info: dict[str, Any],
) -> Any:
    """A copy of the causal LM whose ``generate`` gives each prefix the adapter
    ``adapter_of(prefix)`` (Evo: the adapter after the commit that introduced it).
    Prefixes are generated in groups that share an adapter, results in input order."""
    view = adapted_view(lm, default, targets, info)
    plain = type(lm).generate

    def generate(prefixes: Sequence[str], **options: Any) -> list[Any]:
        groups: dict[int, list[int]] = {}
        adapters: dict[int, Adapters] = {}
        for i, prefix in enumerate(prefixes):
            adapter = adapter_of(prefix)
            groups.setdefault(id(adapter), []).append(i)
            adapters[id(adapter)] = adapter
        stop = options.pop("stop", None)
        per_prefix = stop is not None and not callable(stop)  # one stop rule per prefix
        results: list[Any] = [None] * len(prefixes)
        for key, rows in groups.items():
            view.model.adapter = adapters[key]
            rule = [stop[i] for i in rows] if per_prefix else stop
            generated = plain(view, [prefixes[i] for i in rows], stop=rule, **options)
            for row, result in zip(rows, generated, strict=True):
                results[row] = result
        return results

    view.generate = functools.wraps(plain)(generate)
    return view


def score_view(context: Any, view: Any, examples: Sequence[Any]) -> list[float]:
    """The main score of each example when `view` completes `examples`, scored by the
    run's task kind with the run's task options."""
    from harness.plugin_manager import plugins
    from harness.task_kind import EvaluationOptions

    task_kind = plugins().task_kinds.get(context.task.kind).load()()
    options = EvaluationOptions(
        seed=context.seed, extra=dict(context.task_options or context.task.options)
    )
    evaluation = task_kind.evaluate(view, list(examples), options)
    metric = context.task.main_score
    return [float(row[metric]) for row in evaluation.per_example]


def summary(scores: Sequence[float]) -> float:
    return round(float(np.mean(scores)), 6) if scores else 0.0
