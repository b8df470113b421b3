"""`harness compare A B`: pair two runs by example id and test every difference.

A and B are result files or folders of a result store. Within each side a
run is keyed by (task, dataset, partition); partitions found on both sides
are paired, their per-example rows (the JSONL beside each result) joined by
example id, and for each metric the difference ``B - A`` gets a paired
bootstrap interval and a sign-flip p-value (harness.significance). All
comparisons made at once form one Holm-Bonferroni family; the corrected
p-values decide significance.

Replicates: runs of one key that differ only in the seed (one ``replicate_of``) are
one system's seeds; a folder brings its sibling folders of the same system's other
seeds (``taskwise`` brings ``taskwise@seed_1``). Two systems with two or more seeds in
common are compared seed by seed with the t test over seeds and examples
(harness.replicates); the row then also gives each side's standard deviation over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.example_scores import (
    ExampleScores,
    Run,
    RunKey,
    align,
    load_runs,
    pooled,
    read_scores,
)
from harness.replicates import ReplicateTest, replicate_of, replicate_test, seed_spread
from harness.results import Result, find_results, read_result
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test
from harness.stats import UNKNOWN


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
    n_seeds: int = 1  # seeds in common: more than one, a test over seeds and examples
    sd_a: float = float("nan")  # the standard deviation over seeds of A's value
    sd_b: float = float("nan")

    @property
    def difference(self) -> float:
        return self.b - self.a

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_holm < alpha


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
    """Runs of A and B with the same (task, dataset, partition); each side one run per key
    (its lowest seed's when it holds replicates)."""
    return [(a[min(a)], b[min(b)]) for a, b in pair_replicates(runs_a, runs_b)]


def pair_replicates(
    runs_a: Sequence[Run], runs_b: Sequence[Run]
) -> list[tuple[dict[int, Run], dict[int, Run]]]:
    """As `pair_runs`, each side's runs of a key by seed."""
    if len(runs_a) == 1 and len(runs_b) == 1:  # two files: compared whatever their keys
        return [({runs_a[0].result.seed: runs_a[0]}, {runs_b[0].result.seed: runs_b[0]})]
    sides = {"A": _by_key(runs_a, "A"), "B": _by_key(runs_b, "B")}
    common = sorted(set(sides["A"]) & set(sides["B"]))
    if not common:
        raise InputError(
            "A and B have no (task, dataset, partition) in common "
            f"(A: {_keys(sides['A'])}; B: {_keys(sides['B'])})"
        )
    return [(sides["A"][k], sides["B"][k]) for k in common]


def _by_key(runs: Sequence[Run], side: str) -> dict[RunKey, dict[int, Run]]:
    """Runs by key, then seed; several runs of a key must be one system's replicates."""
    keyed: dict[RunKey, dict[int, Run]] = {}
    for run in runs:
        seeds = keyed.setdefault(run.key, {})
        other = next(iter(seeds.values()), None)
        if other is not None and (
            replicate_of(other.result) != replicate_of(run.result) or run.result.seed in seeds
        ):
            raise InputError(
                f"{side} holds several runs of {'/'.join(run.key)} "
                f"({other.system}; {run.system}): point {side} at one model/strategy "
                "folder, e.g. results/t2c/local/minilm/none"
            )
        seeds[run.result.seed] = run
    return keyed


def with_replicates(path: Path, runs: list[Run]) -> list[Run]:
    """`runs` (of `path`) and, for a folder, its siblings' runs of the same systems' other
    seeds (``taskwise@seed_1`` beside ``taskwise``)."""
    if not path.is_dir():
        return runs
    systems = {replicate_of(run.result) for run in runs}
    stem = path.resolve().name.partition("@")[0]
    found = {run.path.resolve() for run in runs}
    for sibling in sorted(path.resolve().parent.glob(f"{stem}*")):
        if sibling.is_dir() and sibling.name.partition("@")[0] == stem:
            runs += [
                run
                for run in (Run(read_result(p), p) for p in find_results(sibling))
                if run.path.resolve() not in found and replicate_of(run.result) in systems
            ]
    return runs


def test_over_seeds(
    a: Sequence[Sequence[ExampleScores]], b: Sequence[Sequence[ExampleScores]], metric: str,
    strata: Sequence[str],
) -> ReplicateTest:  # fmt: skip
    """The t test over seeds and examples of ``B - A``: ``a[s][k]`` is seed s's scores of
    stratum k; B is aligned to A seed by seed, and every seed to the first one's order
    when all were scored on the same examples."""
    b = [[align(x, y, p) for x, y, p in zip(xs, ys, strata, strict=True)]
         for xs, ys in zip(a, b, strict=True)]  # fmt: skip
    shared = all(
        set(x.ids) == set(first.ids) for xs in a[1:] for x, first in zip(xs, a[0], strict=True)
    )
    if shared:
        a, b = ([[align(f, x, p) for f, x, p in zip(a[0], xs, strata, strict=True)] for xs in side]
                for side in (a, b))  # fmt: skip
    values = [[[x.columns[metric] for x in xs] for xs in side] for side in (a, b)]
    return replicate_test(values[0], values[1], shared_examples=shared)


def compare_replicates(
    a: Mapping[int, Run], b: Mapping[int, Run], metrics: Sequence[str], key: RunKey
) -> list[Comparison]:
    """``B - A`` over the seeds both sides have (two or more), one comparison per metric."""
    seeds = sorted(set(a) & set(b))
    scores = [[read_scores(side[s], metrics) for s in seeds] for side in (a, b)]
    comparisons = []
    for metric in metrics:
        test = test_over_seeds([[x] for x in scores[0]], [[y] for y in scores[1]], metric, ["-"])
        (mean_a, sd_a), (mean_b, sd_b) = (
            seed_spread([x.columns[metric].mean() for x in side]) for side in scores
        )
        n = len(scores[0][0].ids)
        comparisons.append(
            Comparison(
                *key,
                metric,
                n,
                mean_a,
                mean_b,
                test.ci_low,
                test.ci_high,
                test.p_value,
                n_seeds=len(seeds),
                sd_a=sd_a,
                sd_b=sd_b,
            )
        )
    return comparisons


def _keys(keyed: Mapping[RunKey, object]) -> str:
    return ", ".join("/".join(k) for k in sorted(keyed)) or "none"


def compare_paths(
    path_a: Path,
    path_b: Path,
    *,
    metrics: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
    by: str | None = None,
) -> tuple[list[Comparison], list[tuple[Run, Run]]]:
    """Every paired comparison of A and B, Holm-corrected as one family; with `by`, one
    per value of that per-example field, the partitions of a task and dataset pooled."""
    groups = pair_replicates(
        with_replicates(path_a, load_runs(path_a)), with_replicates(path_b, load_runs(path_b))
    )
    if by is not None:
        lowest = [(a[min(set(a) & set(b))], b[min(set(a) & set(b))]) for a, b in groups
                  if set(a) & set(b)]  # fmt: skip
        found = compare_by(lowest, by, metrics, n_bootstrap, n_permutations, seed)
        correct(found)
        return found, lowest
    pairs: list[tuple[Run, Run]] = []
    comparisons: list[Comparison] = []
    for group_a, group_b in groups:
        common = sorted(set(group_a) & set(group_b))
        if len(group_a) > 1 or len(group_b) > 1:
            if not common:
                raise InputError(
                    f"A has seeds {sorted(group_a)}, B has seeds {sorted(group_b)}: none in "
                    "common, nothing to pair"
                )
            group_a = {s: group_a[s] for s in common}
            group_b = {s: group_b[s] for s in common}
        run_a, run_b = group_a[min(group_a)], group_b[min(group_b)]
        pairs.append((run_a, run_b))
        names = shared_metrics(run_a.result, run_b.result, metrics)
        if len(common) > 1 and len(group_a) > 1:
            comparisons += compare_replicates(group_a, group_b, names, run_a.key)
            continue
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


def compare_by(
    pairs: Sequence[tuple[Run, Run]],
    by: str,
    metrics: Sequence[str] | None,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
) -> list[Comparison]:
    """B - A per value of the per-example field `by`, over each (task, dataset)'s paired
    partitions pooled (one seed each: the lowest both have); the key's partition reads
    ``<by>=<value>``. A field no row has is an error, not an empty table."""
    by_dataset: dict[tuple[str, str], list[tuple[Run, Run]]] = {}
    for run_a, run_b in pairs:
        by_dataset.setdefault(run_a.key[:2], []).append((run_a, run_b))
    comparisons: list[Comparison] = []
    for (task, dataset), paired in sorted(by_dataset.items()):
        names = shared_metrics(paired[0][0].result, paired[0][1].result, metrics)
        sides = [[(run.result.partition, read_scores(run, names, [by])) for run in side]
                 for side in zip(*paired, strict=True)]  # fmt: skip
        if all(set(s.labels[by]) == {UNKNOWN} for _, s in sides[0]):
            raise InputError(f"no example says its {by!r}", path=paired[0][0].path)
        a, b = pooled(sides[0]), pooled(sides[1])
        a.labels[by] = [v for _, s in sides[0] for v in s.labels[by]]
        b = align(a, b, f"{task}/{dataset}")
        b.labels[by] = a.labels[by]  # one example, one value: A's rows say it
        groups_b = b.split_by(by)
        for value, group_a in a.split_by(by).items():
            key = (task, dataset, f"{by}={value}")
            comparisons += compare_scores(group_a, groups_b[value], names, key,
                                          n_bootstrap=n_bootstrap, n_permutations=n_permutations,
                                          seed=seed)  # fmt: skip
    return comparisons


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
    replicated = any(c.n_seeds > 1 for c in comparisons)
    if replicated:  # the seeds in common and each side's spread over them
        headers += ["seeds", "sd A", "sd B"]
        for row, c in zip(rows, comparisons, strict=True):
            spreads = [f"{100 * v:.2f}" if c.n_seeds > 1 else "-" for v in (c.sd_a, c.sd_b)]
            row += [str(c.n_seeds), *spreads]
    lines += ["", tabulate(rows, headers, tablefmt="simple", disable_numparse=True), ""]
    lines.append(
        f"x100. B-A with its paired-bootstrap 95% interval ({n_bootstrap} resamples); "
        f"p: paired sign-flip test ({n_permutations} resamples), Holm-corrected over "
        f"{len(comparisons)} comparisons; * significant at alpha = {alpha}."
    )
    if replicated:
        lines.append(
            "Rows over several seeds: A and B are means over the seeds both have, paired seed "
            "by seed; the interval and p come from a t test over seeds and examples "
            "(docs/statistics.md); sd: the standard deviation over seeds."
        )
    return "\n".join(lines)


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"
