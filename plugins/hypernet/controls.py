"""The controls every hypernetwork result carries, and the views that score them.

- **Diversity**: the mean pairwise cosine of the adapters generated for the
  evaluated repositories, over their flattened factors (A and B of every
  module) and over their weight updates ``B A``. What an adapter does is its
  update, so the flag reads the updates: adapters whose updates are all alike
  (update cosine at or above `collapse_cosine`, 0.99 by default; identical or
  all zero counts as cosine 1) are flagged ``collapsed``: whatever they gain is
  a generic adapter's gain ("conditioning collapse", cosine 0.998 in an audit of
  Code2LoRA's release). The factors' cosine cannot tell: an untrained network
  (every B = 0, every update 0) has factor cosine ~0.98. With one adapter the
  flag is ``None`` (unknown).
- **Shuffled repository**: each repository scored with another repository's
  adapter (a seeded derangement; with one repository, a training
  repository's). The drop from the real adapter is the repository-specific
  gain.
- **Mean adapter**: every repository scored with the mean update of the
  adapters written for the *training* repositories other than the scored one
  (leave-one-out: in a cross-repo split the scored repository is never a
  training one; in-repo it is, and its own update is taken out). A mean that
  held the scored repository's own adapter would share its gain, and with one
  evaluated repository would be that adapter. Exact: the factors stacked into
  one LoRA of rank n x r, or, where n x r passes a module's smaller width, the
  summed update itself (`UpdateSum`).

The per-example scores of each control go into the result (``encoder_info``),
so each control can be paired with the hypernetwork's own scores.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

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


HEATMAP_MAX = 64
"""Up to this many adapters a diversity record keeps their whole cosine matrix."""


def diversity(adapters: Adapters, threshold: float, names: Sequence[str] = ()) -> dict[str, Any]:
    """Mean pairwise cosines of `adapters` (one per repository, `names` in their order) and
    the collapse flag (True, False, or None: unknown with fewer than two adapters); the
    updates' whole cosine matrix too (the report's heatmap, harness.reportpage)."""
    factors = mean_off_diagonal(pairwise_cosines(adapters.flat()))
    matrix = update_cosines(adapters)
    updates = mean_off_diagonal(matrix)
    return {
        "names": list(names),
        # kept up to HEATMAP_MAX adapters (a result carries it once per partition)
        "update_cosines": [[round(float(v), 4) for v in row] for row in matrix.tolist()]
        if adapters.count <= HEATMAP_MAX
        else None,
        "n_adapters": adapters.count,
        "mean_cosine": None if factors is None else round(factors, 6),
        "mean_update_cosine": None if updates is None else round(updates, 6),
        "collapse_cosine": threshold,
        "collapse_reads": "mean_update_cosine",
        "collapsed": None if updates is None else updates >= threshold,
    }


class UpdateSum:
    """One adapter whose update is ``sum_k w_k B_k A_k`` over the adapters added, exactly.

    A module whose summed rank (`ranks`, known up front) fits within its smaller width keeps
    the factors stacked (``[w_1 B_1 ... w_n B_n] @ [A_1; ...; A_n]``); a larger one sums the
    dense update and writes it as a LoRA of rank min(in, out) with an identity factor, so
    memory stays bounded by the module's own size however many adapters are added.
    """

    def __init__(self, ranks: Mapping[str, int], scaling: float) -> None:
        self.ranks, self.scaling = dict(ranks), scaling
        self.stacked: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        self.dense: dict[str, torch.Tensor] = {}

    def add(self, weight: float, adapters: Adapters) -> UpdateSum:
        if adapters.scaling != self.scaling:
            raise ValueError("adapters of different scalings cannot be summed")
        for path, (a, b) in adapters.factors.items():
            rank, width_in = a.shape[0] * a.shape[1], a.shape[2]
            if self.ranks[path] <= min(width_in, b.shape[1]):
                parts = self.stacked.setdefault(path, ([], []))
                parts[0].append(a.reshape(rank, width_in))
                parts[1].append((b * weight).permute(1, 0, 2).reshape(b.shape[1], rank))
            else:
                update = torch.einsum("nor,nri->oi", b.double(), a.double()) * weight
                self.dense[path] = self.dense.get(path, 0) + update
        return self

    def result(self) -> Adapters:
        factors = {p: (torch.cat(a)[None], torch.cat(b, dim=1)[None])
                   for p, (a, b) in self.stacked.items()}  # fmt: skip
        for path, update in self.dense.items():
            out, width_in = update.shape
            update = update.float()
            if width_in <= out:
                factors[path] = (torch.eye(width_in, device=update.device)[None], update[None])
            else:
                factors[path] = (update[None], torch.eye(out, device=update.device)[None])
        return Adapters(factors, self.scaling)


def mean_without(mean: Adapters, n: int, own: Adapters) -> Adapters:
    """The mean of n updates with `own` (one of them) taken out: (n mean - own) / (n - 1)."""
    ranks = {p: mean.factors[p][0].shape[1] + own.rank for p in mean.factors}
    total = UpdateSum(ranks, mean.scaling).add(n / (n - 1), mean)
    return total.add(-1.0 / (n - 1), own).result()


def leave_one_out_means(
    write: Callable[[list[str]], Adapters],
    pool: Sequence[str],
    evaluated: Sequence[str],
    own: Callable[[str], Adapters],
    rank: int,
) -> dict[str, tuple[Adapters, int]]:
    """Each evaluated repository's mean-adapter control and how many adapters it averages:
    the mean update over the `pool` (the training repositories, whose adapters `write`
    gives 16 at a time) without the repository itself. None for a repository that is
    the whole pool."""
    total: UpdateSum | None = None
    for start in range(0, len(pool), 16):
        chunk = write(list(pool[start : start + 16]))
        if total is None:
            total = UpdateSum({p: len(pool) * rank for p in chunk.factors}, chunk.scaling)
        total.add(1.0 / len(pool), chunk)
    if total is None:
        return {}
    mean, n = total.result(), len(pool)
    out: dict[str, tuple[Adapters, int]] = {}
    for name in evaluated:
        if name not in pool:
            out[name] = (mean, n)
        elif n > 1:
            out[name] = (mean_without(mean, n, own(name)), n - 1)
    return out


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
) -> PerExampleView:
    """A view of the causal LM that gives each prefix the adapter ``adapter_of(prefix)``
    (Evo: the adapter after the commit that introduced it)."""
    return PerExampleView(adapted_view(lm, default, targets, info), adapter_of)


class PerExampleView:
    """An adapted view (`adapted_view`) whose ``generate`` sets each prefix's own adapter.
    Prefixes are generated in groups that share an adapter, results in input order; every
    other attribute is the view's."""

    def __init__(self, view: Any, adapter_of: Callable[[str], Adapters]) -> None:
        self.view, self.adapter_of = view, adapter_of

    def __getattr__(self, name: str) -> Any:
        if name == "view":  # not set yet: a copy or an unpickling asks before __init__
            raise AttributeError(name)
        return getattr(self.view, name)

    def generate(self, prefixes: Sequence[str], **options: Any) -> list[Any]:
        groups: dict[int, list[int]] = {}
        adapters: dict[int, Adapters] = {}
        for i, prefix in enumerate(prefixes):
            adapter = self.adapter_of(prefix)
            groups.setdefault(id(adapter), []).append(i)
            adapters[id(adapter)] = adapter
        stop = options.pop("stop", None)
        per_prefix = stop is not None and not callable(stop)  # one stop rule per prefix
        results: list[Any] = [None] * len(prefixes)
        for key, rows in groups.items():
            self.view.model.adapter = adapters[key]
            rule = [stop[i] for i in rows] if per_prefix else stop
            generated = self.view.generate([prefixes[i] for i in rows], stop=rule, **options)
            for row, result in zip(rows, generated, strict=True):
                results[row] = result
        return results


def score_view(context: Any, view: Any, examples: Sequence[Any]) -> list[float]:
    """The main score of each example when `view` completes `examples`, scored as the run
    scores (``context.evaluate``); a context made outside a run scores with its task kind
    (from ``context.registries``) and its task options alone."""
    if context.evaluate is not None:
        evaluation = context.evaluate(view, examples)
    else:
        from harness.task_kind import EvaluationOptions

        task_kind = context.registries["task_kinds"].get(context.task.kind).load()()
        options = EvaluationOptions(
            seed=context.seed, extra=dict(context.task_options or context.task.options)
        )
        evaluation = task_kind.evaluate(view, list(examples), options)
    metric = context.task.main_score
    return [float(row[metric]) for row in evaluation.per_example]


def summary(scores: Sequence[float]) -> float:
    return round(float(np.mean(scores)), 6) if scores else 0.0
