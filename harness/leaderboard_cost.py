"""`harness leaderboard --cost`: per strategy, the score against what it costs.

One row per (model, strategy) over every stored partition of the task:

- the main score (exact match) over all requests pooled, with a percentile
  bootstrap 95% interval over those requests;
- prompt tokens per request: the partitions' ``prompt_tokens_total`` summed,
  over their requests, and its split: the prefix's share beside what a
  strategy put in front (retrieved code, demonstrations:
  ``context_tokens_total``), where the results record it;
- seconds per request: their ``generate_s`` summed (generation, batched as
  the task sets it, plus any retrieval or selection of context), over their
  requests;
- one-off seconds: every distinct artifact the partitions' models declare
  (``harness.cost.one_off_costs`` on the stored ``encoder_info``) counted
  once: a task-wise adapter once, per-repository indexes or adapters each;
- break-even requests against the baseline strategy of the same model
  (``harness.cost.break_even``): ``never`` when the strategy is not cheaper
  per request but costs more up front, ``-`` when there is nothing to repay;
- the main score per value of each breakdown field the results carry
  (``answer_source``: file, repo, none), over the pooled requests of each.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

from harness.compare import Run, load_runs, read_scores
from harness.cost import OneOff, break_even, one_off_costs, total_one_off
from harness.errors import HarnessError, InputError
from harness.leaderboard import (
    _header,
    _main_score,
    _select,
    header_lines,
    stored_dataset,
    strategy_labels,
)
from harness.leaderboard_commands import run_commands
from harness.stats import bootstrap_ci

ALIGN = ("left", "left", *["right"] * 6)  # then one left-aligned column per breakdown field


def default_baselines() -> list[str]:
    """The default baseline: the first of these a model has results for, the strategies
    that register a ``cost_baseline`` rank, lowest first."""
    from harness.plugin_manager import plugins

    ranked = [e for e in plugins().strategies if e.meta.get("cost_baseline") is not None]
    return [e.name for e in sorted(ranked, key=lambda e: (int(e.meta["cost_baseline"]), e.name))]


@dataclass
class CostRow:
    model: str
    strategy: str
    partitions: int
    requests: int
    score: float
    ci_low: float
    ci_high: float
    tokens_per_request: float
    seconds_per_request: float
    one_off_s: float
    one_off: dict[str, float] = field(default_factory=dict)
    """Seconds by kind (index_build, adapter_training, ...)."""
    context_tokens_per_request: float | None = None
    """Of `tokens_per_request`, what a strategy put in front of the prefix; None when the
    results do not record it (older ones)."""
    by_field: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)
    """Breakdown field -> value -> (main score, requests), requests pooled."""
    break_even: int | None = None
    baseline: str = ""
    """The strategy this row's break-even is against; empty on the baseline row itself."""
    nothing_to_repay: bool = False
    plain: str = ""
    """The strategy's name alone (``rag``; `strategy` may add a label: ``rag k=1``)."""


@dataclass
class CostView:
    task: str
    dataset: str
    metric: str
    rows: list[CostRow]
    header: dict[str, str] = field(default_factory=dict)
    """Dataset, split, limit, versions and date, as the plain leaderboard reads them."""
    run_commands: list[str] = field(default_factory=list)


def _timing(run: Run, name: str) -> float:
    value = run.result.timings.get(name)
    if not isinstance(value, int | float):
        raise InputError(
            f"has no timing {name!r}: the cost view needs completion results that record "
            "prompt tokens and generation time",
            path=run.path,
        )
    return float(value)


def _row(runs: Sequence[Run], label: str, metric: str, n_resamples: int, seed: int) -> CostRow:
    fields = sorted({name for run in runs for name in run.result.breakdowns})
    scored = [read_scores(run, [metric], fields) for run in runs]
    values = np.concatenate([scores.columns[metric] for scores in scored])
    by_field: dict[str, dict[str, tuple[float, int]]] = {}
    for name in fields:
        labels = [value for scores in scored for value in scores.labels[name]]
        for value in sorted(set(labels)):
            picked = values[[label == value for label in labels]]
            by_field.setdefault(name, {})[value] = (float(picked.mean()), len(picked))
    recorded = all("context_tokens_total" in run.result.timings for run in runs)
    requests = sum(run.result.n_examples for run in runs)
    if requests == 0:
        raise InputError("holds no examples", path=runs[0].path)
    low, high = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
    costs: list[OneOff] = []
    for run in runs:
        costs += one_off_costs(run.result.config.get("encoder_info") or {})
    by_kind: dict[str, float] = {}
    for cost in {(c.what, c.key): c for c in costs}.values():
        by_kind[cost.what] = by_kind.get(cost.what, 0.0) + cost.seconds
    first = runs[0].result
    return CostRow(
        model=first.model,
        strategy=label,
        plain=first.strategy,
        partitions=len(runs),
        requests=requests,
        score=float(values.mean()),
        ci_low=low,
        ci_high=high,
        tokens_per_request=sum(_timing(r, "prompt_tokens_total") for r in runs) / requests,
        seconds_per_request=sum(_timing(r, "generate_s") for r in runs) / requests,
        one_off_s=total_one_off(costs),
        one_off=by_kind,
        context_tokens_per_request=(
            sum(_timing(r, "context_tokens_total") for r in runs) / requests if recorded else None
        ),
        by_field=by_field,
    )


def build_costs(
    root: Path,
    task: str,
    *,
    dataset: str | None = None,
    metric: str | None = None,
    baseline: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> CostView:
    """Read the store; one row per model and strategy, break-even against `baseline`."""
    runs = _select(load_runs(root), root, task, dataset)
    metric = metric or _main_score(runs)
    groups: dict[tuple[str, str], list[Run]] = {}
    labels = strategy_labels(runs)
    for run in runs:
        groups.setdefault((run.result.model, labels[run.path]), []).append(run)
    rows = [_row(g, label, metric, n_resamples, seed) for (_, label), g in sorted(groups.items())]
    strategies = sorted({r.strategy for r in rows} | {r.plain for r in rows})
    if baseline is not None and baseline not in strategies:
        raise HarnessError(
            f"--baseline {baseline!r}: no results of that strategy for task {task!r} "
            f"(strategies there: {', '.join(strategies)})"
        )
    for model in sorted({r.model for r in rows}):
        mine = [r for r in rows if r.model == model]
        wanted = [baseline] if baseline is not None else default_baselines()
        base = next((b for name in wanted if (b := _baseline_row(mine, name, baseline))), None)
        if base is None:
            continue
        for row in mine:
            if row is base:
                continue
            row.baseline = base.strategy
            row.break_even = break_even(
                row.one_off_s, row.seconds_per_request, base.one_off_s, base.seconds_per_request
            )
            row.nothing_to_repay = row.break_even is None and row.one_off_s <= base.one_off_s
    rows.sort(key=lambda r: (r.model, r.plain != "none", r.strategy))
    return CostView(
        task, stored_dataset(runs[0]), metric, rows, _header(runs), run_commands(runs, root)
    )


def _baseline_row(rows: Sequence[CostRow], name: str, given: str | None) -> CostRow | None:
    """The row `name` names: its label (``rag k=1``), else the one row of that strategy
    (``rag``); several rows of it are ambiguous when the name was given (--baseline)."""
    exact = [r for r in rows if r.strategy == name]
    if exact:
        return exact[0]
    of_name = [r for r in rows if r.plain == name]
    if len(of_name) > 1 and given is not None:
        raise HarnessError(
            f"--baseline {given!r}: {len(of_name)} rows of that strategy "
            f"({'; '.join(r.strategy for r in of_name)}); give one of them"
        )
    return of_name[0] if len(of_name) == 1 else None


def cost_columns(
    root: Path, task: str, dataset: str | None = None
) -> dict[tuple[str, str], tuple[float, float]]:
    """(model, strategy) -> (prompt tokens, seconds) per request, for the plain leaderboard's
    cost columns; empty unless every run of the task records them (completion results)."""
    runs = _select(load_runs(root), root, task, dataset)
    wanted = ("prompt_tokens_total", "generate_s")
    if not all(isinstance(r.result.timings.get(n), int | float) for r in runs for n in wanted):
        return {}
    totals: dict[tuple[str, str], list[float]] = {}
    labels = strategy_labels(runs)
    for run in runs:
        total = totals.setdefault((run.result.model, labels[run.path]), [0.0, 0.0, 0.0])
        total[0] += run.result.timings["prompt_tokens_total"]
        total[1] += run.result.timings["generate_s"]
        total[2] += run.result.n_examples
    return {key: (t / n, s / n) for key, (t, s, n) in totals.items() if n}


def _break_even_text(row: CostRow) -> str:
    if not row.baseline:
        return "baseline"
    if row.break_even is not None:
        return f"{row.break_even:,}"
    return "-" if row.nothing_to_repay else "never"


def _one_off_text(row: CostRow) -> str:
    if not row.one_off:
        return "0"
    parts = ", ".join(f"{what} {s:.1f}" for what, s in sorted(row.one_off.items()))
    return f"{row.one_off_s:.1f} ({parts})" if len(row.one_off) > 1 else f"{row.one_off_s:.1f}"


def _tokens_text(row: CostRow) -> str:
    """Prompt tokens per request and, where recorded, its split: prefix + context."""
    if row.context_tokens_per_request is None:
        return f"{row.tokens_per_request:.1f}"
    context = row.context_tokens_per_request
    return f"{row.tokens_per_request:.1f} = {row.tokens_per_request - context:.1f} + {context:.1f}"


def _by_field_text(row: CostRow, name: str) -> str:
    groups = row.by_field.get(name, {})
    return ", ".join(f"{value} {100 * score:.1f} ({n})" for value, (score, n) in groups.items())


def _fields(view: CostView) -> list[str]:
    return sorted({name for row in view.rows for name in row.by_field})


def _table(view: CostView) -> tuple[list[str], list[list[str]]]:
    fields = _fields(view)
    headers = ["model", "strategy", "requests", f"{view.metric} x100 [95% CI]",
               "prompt tokens / request (prefix + context)", "s / request", "one-off s",
               "break-even requests",
               *(f"{view.metric} x100 by {name} (requests)" for name in fields)]  # fmt: skip
    body = [
        [row.model, row.strategy, str(row.requests),
         f"{100 * row.score:.2f} [{100 * row.ci_low:.1f}, {100 * row.ci_high:.1f}]",
         _tokens_text(row), f"{row.seconds_per_request:.4f}",
         _one_off_text(row), _break_even_text(row),
         *(_by_field_text(row, name) for name in fields)]
        for row in view.rows
    ]  # fmt: skip
    return headers, body


def _legend(view: CostView) -> list[str]:
    against = sorted({r.baseline for r in view.rows if r.baseline})
    return [
        f"Requests pooled over every partition; intervals: percentile bootstrap over requests. "
        f"Break-even against {', '.join(against) or 'no baseline'}: the requests n at which "
        "one-off + n x (s / request) equals the baseline's, ceil((O - O_base) / "
        "(L_base - L)); never: not cheaper per request; -: no larger one-off cost to repay. "
        "One-off seconds count each artifact once (a cached one reports the seconds it took).",
    ]


def render_costs(view: CostView, fmt: str = "markdown", *, commands: Sequence[str] = ()) -> str:
    """The cost view as markdown, latex, csv or json."""
    if fmt == "json":
        document = {"task": view.task, "dataset": view.dataset, "metric": view.metric,
                    "header": view.header, "rows": [asdict(r) for r in view.rows]}  # fmt: skip
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    headers, body = _table(view)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model", "strategy", "partitions", "requests", "score", "ci_low",
                         "ci_high", "tokens_per_request", "seconds_per_request", "one_off_s",
                         "break_even", "baseline"])  # fmt: skip
        for r in view.rows:
            writer.writerow([r.model, r.strategy, r.partitions, r.requests, f"{r.score:.6f}",
                             f"{r.ci_low:.6f}", f"{r.ci_high:.6f}", f"{r.tokens_per_request:.3f}",
                             f"{r.seconds_per_request:.6f}", f"{r.one_off_s:.3f}",
                             _break_even_text(r), r.baseline])  # fmt: skip
        return out.getvalue()
    title = f"{view.task} on {view.dataset}: {view.metric} against cost"
    about = _about(view)
    commands = [*view.run_commands, *commands]
    align = (*ALIGN, *["left"] * (len(headers) - len(ALIGN)))
    table = tabulate(body, headers, tablefmt="latex" if fmt == "latex" else "pipe",
                     disable_numparse=True, colalign=align)  # fmt: skip
    if fmt == "latex":
        lines = [f"% {title}", *(f"% {line}" for line in [*about, *_legend(view)])]
        lines += [f"% regenerate: {c}" for c in commands]
        return "\n".join(lines) + "\n" + table + "\n"
    lines = [f"## {title}", "", *(f"- {line}" for line in about), "", table, ""]
    lines += [*_legend(view), ""]
    if commands:
        lines += ["Regenerate (the runs as read back from their configs, then the table):", ""]
        lines += ["```", *commands, "```", ""]
    return "\n".join(lines)


def _about(view: CostView) -> list[str]:
    return header_lines(view.header)[1:] if view.header else []  # split, limit, versions
