"""`harness compare A B`: pair two runs by example id and test every difference.

A and B are result files or folders of a result store. Within each side a
run is keyed by (task, dataset, partition); partitions found on both sides
are paired, their per-example rows (the JSONL beside each result) joined by
example id, and for each metric the difference ``B - A`` gets a paired
bootstrap interval and a sign-flip p-value (harness.significance). All
comparisons made at once form one Holm-Bonferroni family; the corrected
p-values decide significance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.results import Result, examples_path, find_results, read_examples, read_result
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test

RunKey = tuple[str, str, str]
"""(task, dataset, partition)."""


@dataclass(frozen=True)
class Run:
    """A stored result and where it lies."""

    result: Result
    path: Path

    @property
    def key(self) -> RunKey:
        return (self.result.task, self.result.dataset, self.result.partition)

    @property
    def system(self) -> str:
        return f"{self.result.model} / {self.result.strategy}"


@dataclass(frozen=True)
class ExampleScores:
    """Per-example scores of one run: ids in file order and one array per metric."""

    ids: list[str]
    columns: dict[str, np.ndarray]
    source: str


@dataclass
class Comparison:
    """One metric of one partition, A against B (difference = B - A, in [−1, 1])."""

    task: str
    dataset: str
    partition: str
    metric: str
    n: int
    a: float
    b: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float = float("nan")

    @property
    def difference(self) -> float:
        return self.b - self.a

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_holm < alpha


def load_runs(path: Path) -> list[Run]:
    """The runs in a result file or under a folder of a result store."""
    if path.is_file():
        return [Run(read_result(path), path)]
    if not path.is_dir():
        raise InputError("no such result file or folder", path=path)
    runs = [Run(read_result(p), p) for p in find_results(path)]
    if not runs:
        raise InputError("holds no result files", path=path)
    return runs


def read_scores(run: Run, metrics: Iterable[str]) -> ExampleScores:
    """The per-example rows of a run as arrays; every row needs an id and each metric."""
    jsonl = examples_path(run.path)
    if not jsonl.exists():
        raise InputError("per-example file is missing (needed for a paired test)", path=jsonl)
    rows = read_examples(run.path)
    names = list(metrics)
    ids: list[str] = []
    values = np.empty((len(rows), len(names)))
    for number, row in enumerate(rows, 1):
        try:
            ids.append(str(row["id"]))
            values[number - 1] = [float(row[name]) for name in names]
        except KeyError as exc:
            raise InputError(f"example has no {exc.args[0]!r}", path=jsonl, line=number) from None
        except (TypeError, ValueError):
            raise InputError("a metric value is not a number", path=jsonl, line=number) from None
    columns = {name: values[:, i] for i, name in enumerate(names)}
    return ExampleScores(ids, columns, str(jsonl))


def align(a: ExampleScores, b: ExampleScores, what: str) -> ExampleScores:
    """`b` reordered to the example order of `a`; refuses different example sets."""
    for scores in (a, b):
        if len(set(scores.ids)) != len(scores.ids):
            twice = Counter(scores.ids).most_common(1)[0][0]
            raise InputError(f"example id {twice!r} occurs more than once", path=scores.source)
    if a.ids == b.ids:
        return b
    only_a = sorted(set(a.ids) - set(b.ids))
    only_b = sorted(set(b.ids) - set(a.ids))
    if only_a or only_b:
        raise InputError(
            f"{what}: A and B were not scored on the same examples "
            f"(A has {len(a.ids)}, B has {len(b.ids)}; {_few('only in A', only_a)}; "
            f"{_few('only in B', only_b)}): a paired test needs the same examples"
        )
    position = {example: i for i, example in enumerate(b.ids)}
    order = np.array([position[example] for example in a.ids])
    return ExampleScores(list(a.ids), {k: v[order] for k, v in b.columns.items()}, b.source)


def _few(label: str, ids: Sequence[str], shown: int = 3) -> str:
    if not ids:
        return f"{label}: none"
    listed = ", ".join(repr(i) for i in ids[:shown])
    more = f", ... ({len(ids)} in all)" if len(ids) > shown else ""
    return f"{label}: {listed}{more}"


def shared_metrics(a: Result, b: Result, wanted: Sequence[str] | None = None) -> list[str]:
    """Metrics both results report: the main score first, then by name; or `wanted`."""
    both = set(a.metrics) & set(b.metrics)
    if wanted:
        missing = [m for m in wanted if m not in both]
        if missing:
            raise InputError(
                f"metric {missing[0]!r} is not in both runs (both have: {', '.join(sorted(both))})"
            )
        return list(wanted)
    return sorted(both, key=lambda m: (m != a.main_score, m))


def compare_scores(
    a: ExampleScores,
    b: ExampleScores,
    metrics: Sequence[str],
    key: RunKey,
    *,
    n_bootstrap: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> list[Comparison]:
    """Paired interval and p-value of ``B - A`` for each metric of one partition."""
    b = align(a, b, "/".join(key))
    comparisons = []
    for metric in metrics:
        x, y = a.columns[metric], b.columns[metric]
        low, high = paired_bootstrap_ci(x, y, n_resamples=n_bootstrap, seed=seed)
        p = sign_flip_test(x, y, n_resamples=n_permutations, seed=seed)
        comparisons.append(
            Comparison(*key, metric, len(x), float(x.mean()), float(y.mean()), low, high, p)
        )
    return comparisons


def correct(comparisons: Sequence[Comparison]) -> None:
    """Set `p_holm` on every comparison, all of them one family."""
    for comparison, adjusted in zip(
        comparisons, holm([c.p_value for c in comparisons]), strict=True
    ):
        comparison.p_holm = adjusted


def pair_runs(runs_a: Sequence[Run], runs_b: Sequence[Run]) -> list[tuple[Run, Run]]:
    """Runs of A and B with the same (task, dataset, partition); each side one run per key."""
    if len(runs_a) == 1 and len(runs_b) == 1:
        return [(runs_a[0], runs_b[0])]  # two files: compared whatever their keys
    sides = {"A": _by_key(runs_a, "A"), "B": _by_key(runs_b, "B")}
    common = sorted(set(sides["A"]) & set(sides["B"]))
    if not common:
        raise InputError(
            "A and B have no (task, dataset, partition) in common "
            f"(A: {_keys(sides['A'])}; B: {_keys(sides['B'])})"
        )
    return [(sides["A"][k], sides["B"][k]) for k in common]


def _by_key(runs: Sequence[Run], side: str) -> dict[RunKey, Run]:
    keyed: dict[RunKey, Run] = {}
    for run in runs:
        if run.key in keyed:
            raise InputError(
                f"{side} holds several runs of {'/'.join(run.key)} "
                f"({keyed[run.key].system}; {run.system}): point {side} at one model/strategy "
                "folder, e.g. results/t2c/local/minilm/none"
            )
        keyed[run.key] = run
    return keyed


def _keys(keyed: Mapping[RunKey, Run]) -> str:
    return ", ".join("/".join(k) for k in sorted(keyed)) or "none"


def compare_paths(
    path_a: Path,
    path_b: Path,
    *,
    metrics: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> tuple[list[Comparison], list[tuple[Run, Run]]]:
    """Every paired comparison of A and B, Holm-corrected as one family."""
    pairs = pair_runs(load_runs(path_a), load_runs(path_b))
    comparisons: list[Comparison] = []
    for run_a, run_b in pairs:
        names = shared_metrics(run_a.result, run_b.result, metrics)
        comparisons += compare_scores(
            read_scores(run_a, names),
            read_scores(run_b, names),
            names,
            run_a.key,
            n_bootstrap=n_bootstrap,
            n_permutations=n_permutations,
            seed=seed,
        )
    correct(comparisons)
    return comparisons, pairs


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """``key: a | b`` for each leaf of two configs that differs, what was asked for
    (model, strategy, encoder options, ...) before what was recorded (``encoder_info``)."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    skip = ("partition", "encoder_info.device", "dataset.cache_dir")
    keys = sorted(set(flat_a) | set(flat_b), key=lambda k: (k.startswith("encoder_info."), k))
    return [
        f"{k}: {_short(flat_a.get(k, '-'))} | {_short(flat_b.get(k, '-'))}"
        for k in keys
        if flat_a.get(k) != flat_b.get(k) and k not in skip
    ]


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def render_comparisons(
    comparisons: Sequence[Comparison],
    pairs: Sequence[tuple[Run, Run]],
    labels: tuple[str, str],
    *,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    n_permutations: int = 10_000,
) -> str:
    """A plain-text report: what A and B are, what differs, and one row per comparison."""
    from tabulate import tabulate

    systems = [sorted({pair[i].system for pair in pairs}) for i in (0, 1)]
    lines = [
        f"{side}: {label} ({', '.join(names)})"
        for side, label, names in zip("AB", labels, systems, strict=True)
    ]
    differences = config_differences(pairs[0][0].result.config, pairs[0][1].result.config)
    if differences:
        more = f"; ... ({len(differences)} in all)" if len(differences) > 4 else ""
        lines.append("configs differ in: " + "; ".join(differences[:4]) + more)
    rows = [
        [
            c.task, c.dataset, c.partition, c.metric, c.n,
            f"{100 * c.a:.2f}", f"{100 * c.b:.2f}", f"{100 * c.difference:+.2f}",
            f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]",
            _p(c.p_value), _p(c.p_holm), "*" if c.significant(alpha) else "",
        ]
        for c in comparisons
    ]  # fmt: skip
    headers = ["task", "dataset", "partition", "metric", "n", "A", "B", "B-A", "95% CI",
               "p", "p Holm", "sig"]  # fmt: skip
    lines += ["", tabulate(rows, headers, tablefmt="simple", disable_numparse=True), ""]
    lines.append(
        f"x100. B-A with its paired-bootstrap 95% interval ({n_bootstrap} resamples); "
        f"p: paired sign-flip test ({n_permutations} resamples), Holm-corrected over "
        f"{len(comparisons)} comparisons; * significant at alpha = {alpha}."
    )
    return "\n".join(lines)


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"
