"""`harness check`: a suite of runs against a stored baseline, example by example.

A baseline is a JSON file::

    {"format": "harness-baseline", "version": 1,
     "suite": [{"model": "hf:path", "task": "t2c", ...}],   # `harness run --config` keys
     "tolerance": 0.01, "metrics": ["mrr"],
     "runs": [{"task", "dataset", "model", "strategy", "partition", "command",
               "metrics": {name: mean}, "examples": {"id": [...], name: [...]}}]}

`check` first states, from the baseline alone, the smallest drop each
comparison (run x metric) detects (harness.check_power) and refuses a suite
that cannot detect a drop of twice its tolerance. It then runs the suite (or
reads `--results DIR`), pairs each run with its baseline by example id, and
tests every metric whose scores changed: a one-sided paired t-test of "the
mean drop is at most the tolerance" (metric units: 0.01 is one point x100),
Holm-corrected over the comparisons that are not identical example by
example. A comparison fails when its corrected p-value is below alpha.
`--update-baseline` records the current scores instead. Relative paths in the
suite are relative to the working directory; an entry without ``cache_dir``
gets a fresh, temporary one, so mining and training are redone (and checked)
on every call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from harness.check_power import REQUIRED, decide, detectable_drop
from harness.compare import ExampleScores, Run, align, read_scores
from harness.errors import HarnessError, InputError
from harness.exp_config import read_options, spec_from_options

FORMAT, VERSION = "harness-baseline", 1
DEFAULT_TOLERANCE = 0.01
RunKey = tuple[str, str, str, str, str]
"""(task, dataset, model, strategy, partition)."""
KEY_FIELDS = ("task", "dataset", "model", "strategy", "partition")


@dataclass
class Verdict:
    """One metric of one run, baseline against now, and what it means."""

    run: str
    metric: str
    n: int
    baseline: float
    now: float
    detectable: float
    """The smallest drop this comparison detects (harness.check_power), stated before."""
    upper: float = math.nan
    """One-sided upper bound of ``now - baseline`` at confidence 1 - alpha / family."""
    p_holm: float = math.nan
    """Holm-adjusted p-value of "the drop is at most the tolerance"."""
    status: str = ""

    @property
    def difference(self) -> float:
        return self.now - self.baseline

    @property
    def failed(self) -> bool:
        return self.status == "DROP"


def read_baseline(path: Path) -> dict[str, Any]:
    """The baseline file, its format, tolerance and metric names checked."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the baseline: {exc.strerror}", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f'not a baseline file (expected "format": "{FORMAT}")', path=path)
    if raw.get("version") != VERSION:
        raise InputError(f"baseline version {raw.get('version')!r} is not {VERSION}", path=path)
    if "tolerance" in raw:
        try:
            check_tolerance(raw["tolerance"], '"tolerance"')
        except HarnessError as exc:
            raise InputError(str(exc), path=path) from None
    metrics = raw.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, list) or not metrics:
            raise InputError('"metrics" must be a non-empty list of metric names', path=path)
        _known_metrics(metrics, path, '"metrics"')
    return raw


def check_tolerance(value: Any, what: str = "--tolerance") -> float:
    """A tolerance is a finite number in [0, 1) (metric units); anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HarnessError(f"{what} must be a number in [0, 1), got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise HarnessError(f"{what} must be a finite number in [0, 1), got {value!r}")
    return float(value)


def _known_metrics(names: Sequence[Any], path: Path, what: str) -> None:
    from harness.plugin_manager import plugins

    registered = plugins().metrics
    for name in names:
        if not isinstance(name, str) or name not in registered:
            raise InputError(
                f"{what}: {name!r} is not a registered metric "
                f"(known: {', '.join(sorted(registered.names()))})",
                path=path,
            )


def run_key(run: Run) -> RunKey:
    r = run.result
    return (r.task, r.dataset, r.model, r.strategy, r.partition)


def _label(key: Sequence[str]) -> str:
    task, dataset, model, strategy, partition = key
    return f"{model}/{strategy} {task}/{dataset}/{partition}"


LEGACY_KEYS = {"n_resamples": "bootstrap", "settings": "set"}
"""Suite keys of earlier baselines (RunRequest's field names), read as the run options."""
SET_BY_CHECK = ("results", "overwrite", "config", "dry_run", "json")
"""Run options a suite entry cannot take: the check writes to a scratch store, afresh."""


def suite_requests(
    baseline: Mapping[str, Any], scratch: Path, path: Path
) -> list[tuple[Mapping[str, Any], Any]]:
    """Each suite entry with the runs it asks for, writing into `scratch`/results (always
    recomputed). An entry takes the keys of a ``harness run --config`` file, checked by the
    same parser (an entry with lists, ``seed = [0, 1]``, is a small matrix)."""
    from harness.matrix import expand
    from harness.run_options import run_option_table

    table = run_option_table()
    requests = []
    for number, entry in enumerate(baseline.get("suite") or [], 1):
        within = f"suite entry {number}: "
        if not isinstance(entry, Mapping):
            raise InputError(f"{within}expected an object of run options", path=path)
        raw = {LEGACY_KEYS.get(str(key), str(key)): value for key, value in entry.items()}
        taken = next((k for k in raw if k.replace("-", "_") in SET_BY_CHECK), None)
        if taken is not None:
            raise InputError(f"{within}key {taken!r} is harness check's to set", path=path)
        options, settings = read_options(raw, table, path, within)
        # No cache_dir: a fresh one, so the check mines and trains again every time.
        options.setdefault("cache_dir", scratch / "cache")
        options.update(results=scratch / "results", overwrite=True)
        try:
            spec = spec_from_options(options, settings, table, path)
        except InputError:
            raise
        except HarnessError as exc:
            raise InputError(f"{within}{exc}", path=path) from None
        requests += [(entry, cell.request) for cell in expand(spec)]
    return requests


def run_suite(
    baseline: Mapping[str, Any], path: Path, scratch: Path
) -> tuple[list[Run], dict[RunKey, str]]:
    """Run every suite entry into a store in `scratch`: the runs and the command of each."""
    from harness.plan import plan
    from harness.runner import execute, prepare

    requests = suite_requests(baseline, scratch, path)
    if not requests:
        raise InputError("has no suite to run; pass --results DIR to check stored runs", path=path)
    entries = {id(entry): number for number, entry in enumerate(baseline["suite"], 1)}
    plans = []
    for entry, request in requests:  # every name and --set option checked before any run
        try:
            plans.append(plan(request))
        except HarnessError as exc:
            raise InputError(f"suite entry {entries[id(entry)]}: {exc}", path=path) from None
    runs, commands = [], {}
    for (entry, request), resolved in zip(requests, plans, strict=True):
        for outcome in execute(prepare(request, resolved=resolved)):
            made = Run(outcome.result, outcome.path)
            runs.append(made)
            commands[run_key(made)] = request_command(entry)
    return runs, commands


def request_command(entry: Mapping[str, Any]) -> str:
    """The `harness run` command line of a suite entry, flags in RunRequest's order."""
    from harness.plan import RunRequest

    entry = {LEGACY_KEYS.get(key, key).replace("-", "_"): value for key, value in entry.items()}
    fields_of = {"bootstrap": "n_resamples", "set": "settings"}
    order = [f.name for f in fields(RunRequest)]
    words = ["harness", "run"]

    def position(name: str) -> int:
        field_name = fields_of.get(name, name)
        return order.index(field_name) if field_name in order else len(order)

    for name in sorted(entry, key=position):
        value, flag = entry[name], "--" + name.replace("_", "-")
        if name == "set":
            words += [
                f"--set {section}.{key}={v if isinstance(v, str) else json.dumps(v)}"
                for section, options in sorted(value.items())
                for key, v in sorted(options.items())
            ]
        elif isinstance(value, list):
            words += [flag, ",".join(map(str, value))]
        elif value is not None:
            words += [flag, str(value)]
    return " ".join(words)


def baseline_runs(baseline: Mapping[str, Any], path: Path) -> dict[RunKey, ExampleScores]:
    """The stored per-example scores, keyed by run: registered metrics, finite, in [0, 1]."""
    stored: dict[RunKey, ExampleScores] = {}
    for number, entry in enumerate(baseline.get("runs") or [], 1):
        try:
            task, dataset, model, strategy, partition = (str(entry[k]) for k in KEY_FIELDS)
            examples = entry["examples"]
            ids = [str(i) for i in examples["id"]]
            columns = {k: _scores(v) for k, v in examples.items() if k != "id"}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"baseline run {number} is malformed: {exc}", path=path) from None
        _known_metrics(list(columns), path, f"baseline run {number}")
        for name, column in columns.items():
            if len(column) != len(ids):
                raise InputError(f"baseline run {number}: columns differ in length", path=path)
            if not np.all((column >= 0.0) & (column <= 1.0)):  # NaN fails both comparisons
                raise InputError(
                    f"baseline run {number}: {name} holds a value that is not a finite "
                    "number in [0, 1]",
                    path=path,
                )
        key = (task, dataset, model, strategy, partition)
        stored[key] = ExampleScores(ids, columns, f"{path} (run {number})")
    if not stored:
        raise InputError(
            "holds no baseline scores yet; record them with --update-baseline", path=path
        )
    return stored


def _scores(values: Any) -> np.ndarray:
    if not isinstance(values, list) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in values
    ):
        raise ValueError("scores must be a list of numbers")
    return np.asarray(values, dtype=np.float64)


def power_plan(
    baseline: Mapping[RunKey, ExampleScores], tolerance: float, alpha: float
) -> list[Verdict]:
    """One verdict per comparison, before running: sizes, means and the detectable drop."""
    m = sum(len(scores.columns) for scores in baseline.values())
    return [
        Verdict(
            _label(key), metric, len(column), float(column.mean()), math.nan,
            detectable_drop(column, tolerance, alpha, m),
        )
        for key, scores in sorted(baseline.items())
        for metric, column in scores.columns.items()
    ]  # fmt: skip


def power_statement(plan: Sequence[Verdict], tolerance: float, alpha: float) -> str:
    """One line: the largest detectable drop of the suite, against what it must detect."""
    worst = max(plan, key=lambda v: v.detectable)
    return (
        f"detectable drop (power 0.8, alpha {alpha}, {len(plan)} comparisons, worst case: "
        f"random examples lose their whole score): {_points(worst.detectable)} for "
        f"{worst.run} {worst.metric} (n={worst.n}); needed: at most "
        f"{_points(REQUIRED * tolerance)} ({REQUIRED:g} x the tolerance)"
    )


def underpowered(plan: Sequence[Verdict], tolerance: float, alpha: float) -> str | None:
    """Why the suite cannot detect its tolerance, or None when it can."""
    worst = max(plan, key=lambda v: v.detectable)
    if worst.detectable <= REQUIRED * tolerance:
        return None
    return (
        f"the suite cannot detect its tolerance of {_points(tolerance)}: "
        f"{worst.run} {worst.metric} (n={worst.n}, alpha {alpha}, {len(plan)} comparisons) "
        f"detects only drops of {_points(worst.detectable)} or more, above "
        f"{_points(REQUIRED * tolerance)}; add examples, check fewer metrics, raise "
        "--tolerance, or pass --allow-underpowered"
    )


def _points(value: float) -> str:
    return "no drop at all" if math.isinf(value) else f"{100 * value:.2f} points"


def check_runs(
    baseline: Mapping[RunKey, ExampleScores],
    runs: Sequence[Run],
    *,
    tolerance: float,
    alpha: float = 0.05,
) -> list[Verdict]:
    """Compare each baseline run with the current one.

    Comparisons identical example by example are "same" and stay out of the
    Holm family; the others are tested at alpha / (their number).
    """
    current = {run_key(run): run for run in runs}
    missing = [key for key in baseline if key not in current]
    if missing:
        raise HarnessError(
            f"no current run of {_label(missing[0])} (and {len(missing) - 1} more) to check "
            "against the baseline"
        )
    verdicts = power_plan(baseline, tolerance, alpha)
    differences: list[np.ndarray | None] = []
    for key, stored in sorted(baseline.items()):
        run = current[key]
        metrics = [m for m in stored.columns if m in run.result.metrics]
        try:
            now = align(stored, read_scores(run, metrics), "/".join((key[0], key[1], key[4])))
        except InputError as exc:
            raise HarnessError(
                f"{_label(key)}: {exc}; if the suite changed on purpose, rerun with "
                "--update-baseline"
            ) from None
        for metric in stored.columns:
            d = now.columns[metric] - stored.columns[metric] if metric in now.columns else None
            differences.append(d)
    scored = [d for d in differences if d is not None]
    decisions = iter(decide(scored, tolerance, alpha))
    for verdict, d in zip(verdicts, differences, strict=True):
        if d is None:
            verdict.status = "not scored now"
            continue
        decision = next(decisions)
        verdict.now = verdict.baseline + float(d.mean())
        verdict.status, verdict.upper, verdict.p_holm = (
            decision.status,
            decision.upper,
            decision.p_holm,
        )
    return verdicts


def render_verdicts(verdicts: Sequence[Verdict], tolerance: float, alpha: float) -> str:
    from tabulate import tabulate

    rows = [
        [
            v.run, v.metric, v.n, f"{100 * v.baseline:.2f}", f"{100 * v.now:.2f}",
            f"{100 * v.difference:+.2f}", f"{100 * v.upper:+.2f}", f"{v.p_holm:.4f}",
            f"{100 * v.detectable:.2f}", v.status,
        ]
        for v in verdicts
    ]  # fmt: skip
    headers = [
        "run",
        "metric",
        "n",
        "baseline",
        "now",
        "diff",
        "bound",
        "p Holm",
        "detect",
        "verdict",
    ]
    failed = sum(v.failed for v in verdicts)
    family = sum(v.status not in ("same", "not scored now") for v in verdicts)
    summary = f"{failed} drop(s) beyond the tolerance" if failed else "no drop beyond the tolerance"
    rule = (
        f"bound: one-sided upper confidence bound of the difference at 1 - alpha/{family}; "
        f'p: paired t-test of "drop <= tolerance", Holm-corrected over the {family} '
        f"comparison(s) that changed ({len(verdicts) - family} identical)"
        if family
        else f"all {len(verdicts)} comparisons identical example by example"
    )
    return (
        tabulate(rows, headers, tablefmt="simple", disable_numparse=True)
        + f"\n\nx100; {rule}; alpha {alpha}, tolerance {100 * tolerance:.2f} points: {summary}."
    )


def updated_baseline(
    baseline: Mapping[str, Any],
    runs: Sequence[Run],
    commands: Mapping[RunKey, str],
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The baseline with `runs`' current per-example scores (suite and options kept)."""
    entries = []
    for run in sorted(runs, key=run_key):
        result = run.result
        names = [m for m in (metrics or sorted(result.metrics)) if m in result.metrics]
        scores = read_scores(run, names)
        entries.append(
            {
                **dict(zip(KEY_FIELDS, run_key(run), strict=True)),
                "command": commands.get(run_key(run), ""),
                "metrics": {m: float(scores.columns[m].mean()) for m in names},
                "examples": {"id": scores.ids, **{m: scores.columns[m].tolist() for m in names}},
            }
        )
    return {
        **{k: v for k, v in baseline.items() if k != "runs"},
        "format": FORMAT,
        "version": VERSION,
        "runs": entries,
    }


def write_baseline(path: Path, baseline: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def current_runs(
    baseline: Mapping[str, Any], path: Path, results: Path | None, scratch: Path
) -> tuple[list[Run], dict[RunKey, str]]:
    """The stored runs under `results`, or those the suite makes now in `scratch`."""
    from harness.compare import load_runs

    if results is not None:
        return load_runs(results), {}
    return run_suite(baseline, path, scratch)
