"""`harness check`: a suite of runs against a stored baseline, example by example.

A baseline is a JSON file::

    {"format": "harness-baseline", "version": 1,
     "suite": [{"model": "hf:path", "task": "t2c", ...}],   # RunRequest fields
     "tolerance": 0.01,
     "runs": [{"task", "dataset", "model", "strategy", "partition", "command",
               "metrics": {name: mean}, "examples": {"id": [...], name: [...]}}]}

`check` runs the suite (or reads `--results DIR`), pairs each run with its
baseline by example id and tests every metric (harness.compare: paired
bootstrap interval, sign-flip test, Holm over all of them). A run fails when
its drop is significant after correction *and* larger than the tolerance (in
metric units: 0.01 is one point x100). `--update-baseline` records the
current scores instead. Relative paths in the suite are relative to the
working directory; an entry without ``cache_dir`` gets a fresh, temporary one,
so mining and training are redone (and checked) on every call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare import Comparison, ExampleScores, Run, compare_scores, correct, read_scores
from harness.errors import HarnessError, InputError

FORMAT, VERSION = "harness-baseline", 1
DEFAULT_TOLERANCE = 0.01
RunKey = tuple[str, str, str, str, str]
"""(task, dataset, model, strategy, partition)."""
KEY_FIELDS = ("task", "dataset", "model", "strategy", "partition")


@dataclass
class Verdict:
    """One metric of one run: the comparison (A = baseline, B = now) and what it means."""

    run: str
    comparison: Comparison
    status: str

    @property
    def failed(self) -> bool:
        return self.status == "DROP"


def read_baseline(path: Path) -> dict[str, Any]:
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
    return raw


def run_key(run: Run) -> RunKey:
    r = run.result
    return (r.task, r.dataset, r.model, r.strategy, r.partition)


def _label(key: Sequence[str]) -> str:
    task, dataset, model, strategy, partition = key
    return f"{model}/{strategy} {task}/{dataset}/{partition}"


def suite_requests(baseline: Mapping[str, Any], scratch: Path, path: Path) -> list[Any]:
    """The suite's entries as RunRequests writing into `scratch`/results (always recomputed)."""
    from harness.runner import RunRequest

    known = {f.name for f in fields(RunRequest)} - {"results_dir", "overwrite"}
    requests = []
    for number, entry in enumerate(baseline.get("suite") or [], 1):
        unknown = sorted(set(entry) - known)
        if unknown:
            raise InputError(f"suite entry {number}: unknown field {unknown[0]!r}", path=path)
        # No cache_dir: a fresh one, so the check mines and trains again every time.
        options = {"strategy": "none", "cache_dir": str(scratch / "cache"), **entry}
        for name in ("data_dir", "cache_dir"):
            if options.get(name) is not None:
                options[name] = Path(options[name])
        requests.append(RunRequest(**options, results_dir=scratch / "results", overwrite=True))
    return requests


def run_suite(
    baseline: Mapping[str, Any], path: Path, scratch: Path
) -> tuple[list[Run], dict[RunKey, str]]:
    """Run every suite entry into a store in `scratch`: the runs and the command of each."""
    from harness.runner import run

    requests = suite_requests(baseline, scratch, path)
    if not requests:
        raise InputError("has no suite to run; pass --results DIR to check stored runs", path=path)
    runs, commands = [], {}
    for entry, request in zip(baseline["suite"], requests, strict=True):
        for outcome in run(request):
            made = Run(outcome.result, outcome.path)
            runs.append(made)
            commands[run_key(made)] = request_command(entry)
    return runs, commands


def request_command(entry: Mapping[str, Any]) -> str:
    """The `harness run` command line of a suite entry, flags in RunRequest's order."""
    from harness.runner import RunRequest

    flags = {"n_resamples": "--bootstrap", "settings": "--set"}
    order = [f.name for f in fields(RunRequest)]
    words = ["harness", "run"]
    for name in sorted(entry, key=lambda k: order.index(k) if k in order else len(order)):
        value, flag = entry[name], flags.get(name, "--" + name.replace("_", "-"))
        if name == "settings":
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
    """The stored per-example scores, keyed by run."""
    stored: dict[RunKey, ExampleScores] = {}
    for number, entry in enumerate(baseline.get("runs") or [], 1):
        try:
            task, dataset, model, strategy, partition = (str(entry[k]) for k in KEY_FIELDS)
            examples = entry["examples"]
            ids = [str(i) for i in examples["id"]]
            columns = {k: np.asarray(v, dtype=np.float64) for k, v in examples.items() if k != "id"}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"baseline run {number} is malformed: {exc}", path=path) from None
        if any(len(c) != len(ids) for c in columns.values()):
            raise InputError(f"baseline run {number}: columns differ in length", path=path)
        key = (task, dataset, model, strategy, partition)
        stored[key] = ExampleScores(ids, columns, f"{path} (run {number})")
    if not stored:
        raise InputError(
            "holds no baseline scores yet; record them with --update-baseline", path=path
        )
    return stored


def check_runs(
    baseline: Mapping[RunKey, ExampleScores],
    runs: Sequence[Run],
    *,
    tolerance: float,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> list[Verdict]:
    """Compare each baseline run with the current one; all metrics form one Holm family."""
    current = {run_key(run): run for run in runs}
    missing = [key for key in baseline if key not in current]
    if missing:
        raise HarnessError(
            f"no current run of {_label(missing[0])} (and {len(missing) - 1} more) to check "
            "against the baseline"
        )
    verdicts: list[Verdict] = []
    for key, stored in sorted(baseline.items()):
        run = current[key]
        metrics = [m for m in stored.columns if m in run.result.metrics]
        try:
            comparisons = compare_scores(
                stored,
                read_scores(run, metrics),
                metrics,
                (key[0], key[1], key[4]),
                n_bootstrap=n_bootstrap,
                n_permutations=n_permutations,
                seed=seed,
            )
        except InputError as exc:
            raise HarnessError(
                f"{_label(key)}: {exc}; if the suite changed on purpose, rerun with "
                "--update-baseline"
            ) from None
        verdicts += [Verdict(_label(key), c, "") for c in comparisons]
    correct([v.comparison for v in verdicts])
    for verdict in verdicts:
        verdict.status = _status(verdict.comparison, tolerance, alpha)
    return verdicts


def _status(c: Comparison, tolerance: float, alpha: float) -> str:
    if c.difference == 0 and c.ci_low == c.ci_high == 0:
        return "same"
    if not c.significant(alpha):
        return "noise"
    if c.difference > 0:
        return "better"
    return "DROP" if -c.difference > tolerance else "drop within tolerance"


def render_verdicts(verdicts: Sequence[Verdict], tolerance: float, alpha: float) -> str:
    from tabulate import tabulate

    rows = [
        [
            v.run, v.comparison.metric, v.comparison.n,
            f"{100 * v.comparison.a:.2f}", f"{100 * v.comparison.b:.2f}",
            f"{100 * v.comparison.difference:+.2f}",
            f"[{100 * v.comparison.ci_low:+.2f}, {100 * v.comparison.ci_high:+.2f}]",
            f"{v.comparison.p_holm:.4f}", v.status,
        ]
        for v in verdicts
    ]  # fmt: skip
    headers = ["run", "metric", "n", "baseline", "now", "diff", "95% CI", "p Holm", "verdict"]
    failed = sum(v.failed for v in verdicts)
    summary = (
        f"{failed} significant drop(s) larger than {100 * tolerance:.2f} points"
        if failed
        else "no significant drop larger than the tolerance"
    )
    return (
        tabulate(rows, headers, tablefmt="simple", disable_numparse=True)
        + f"\n\nx100; paired sign-flip tests Holm-corrected over {len(verdicts)} comparisons, "
        f"alpha {alpha}, tolerance {100 * tolerance:.2f} points: {summary}."
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
