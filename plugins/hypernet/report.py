"""``harness hypernet controls``: each hypernetwork result beside its three controls;
``harness hypernet track``: Evo results commit by commit.

For every stored result of a hypernetwork strategy it pairs the per-example
scores of the result (its JSONL) with those of each control (kept in the
result's ``config.encoder_info.controls``) and prints, per repository and
pooled over repositories (each weighing equally, as a leaderboard's mean):
the score, each control's score, the difference (the repository-specific
gain for the shuffled control), its paired-bootstrap 95% interval and the
sign-flip p-value, Holm-corrected as the leaderboard corrects its columns (the
family: every control test of one partition, or of the pooled rows); and the
adapters' mean pairwise cosine (of their updates) with the collapse flag
(unknown with one evaluated repository).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare import ExampleScores, align, load_runs, read_scores
from harness.errors import InputError
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test

CONTROLS = ("shuffled", "mean_adapter", "first_snapshot")


@dataclass
class ControlTest:
    score: float  # the control's mean
    difference: float  # result - control
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float = 1.0  # Holm-corrected within the partition's family (`control_rows`)


@dataclass
class ControlRow:
    model: str
    strategy: str
    partition: str
    n: int
    score: float
    mean_cosine: float | None  # of the adapters' updates (of the factors: older results)
    collapsed: bool | None  # None: unknown (fewer than two evaluated repositories)
    tests: dict[str, ControlTest] = field(default_factory=dict)


def _cosine(diversity: dict[str, Any]) -> float | None:
    found = diversity.get("mean_update_cosine", diversity.get("mean_cosine"))
    return None if found is None else float(found)


def _collapsed(diversity: dict[str, Any]) -> bool | None:
    if int(diversity.get("n_adapters", 0)) < 2 or diversity.get("collapsed") is None:
        return None
    return bool(diversity["collapsed"])


def _test(main: list[np.ndarray], control: list[np.ndarray], seed: int) -> ControlTest:
    low, high = paired_bootstrap_ci(control, main, seed=seed)
    return ControlTest(
        score=float(np.mean([c.mean() for c in control])),
        difference=float(
            np.mean([m.mean() - c.mean() for m, c in zip(main, control, strict=True)])
        ),
        ci_low=low,
        ci_high=high,
        p_value=sign_flip_test(control, main, seed=seed),
    )


def control_rows(path: Path, seed: int = 0) -> list[ControlRow]:
    """A row per hypernetwork result under `path`, and a pooled row per system."""
    runs = [
        r for r in load_runs(path) if (r.result.config.get("encoder_info") or {}).get("controls")
    ]
    if not runs:
        raise InputError("holds no hypernetwork result with controls", path=path)
    rows: list[ControlRow] = []
    pooled: dict[tuple[str, str], list[tuple[np.ndarray, dict[str, np.ndarray], Any]]] = {}
    for run in sorted(runs, key=lambda r: (r.result.model, r.result.strategy, r.result.partition)):
        controls = run.result.config["encoder_info"]["controls"]
        metric = controls.get("metric", run.result.main_score)
        scores = read_scores(run, [metric])
        per_example = controls["per_example"]
        found = {}
        for name in CONTROLS:
            if name in per_example:
                theirs = ExampleScores(
                    list(per_example["ids"]), {metric: np.asarray(per_example[name], float)}, name
                )
                found[name] = align(scores, theirs, f"{run.path}: control {name}").columns[metric]
        main = scores.columns[metric]
        diversity = controls.get("diversity", {})
        row = ControlRow(
            run.result.model, run.result.strategy, run.result.partition, len(main),
            float(main.mean()), _cosine(diversity), _collapsed(diversity),
            {name: _test([main], [values], seed) for name, values in found.items()},
        )  # fmt: skip
        rows.append(row)
        pooled.setdefault((row.model, row.strategy), []).append((main, found, diversity))
    for (model, strategy), parts in pooled.items():
        if len(parts) < 2:
            continue
        mains = [m for m, _, _ in parts]
        shared = set.intersection(*(set(found) for _, found, _ in parts))
        diversity = parts[0][2]
        rows.append(
            ControlRow(
                model, strategy, "(all)", sum(len(m) for m in mains),
                float(np.mean([m.mean() for m in mains])), _cosine(diversity),
                _collapsed(diversity),
                {name: _test(mains, [f[name] for _, f, _ in parts], seed)
                 for name in CONTROLS if name in shared},
            )
        )  # fmt: skip
    families: dict[str, list[ControlTest]] = {}
    for row in rows:
        families.setdefault(row.partition, []).extend(row.tests.values())
    for tests in families.values():
        for test, adjusted in zip(tests, holm([t.p_value for t in tests]), strict=True):
            test.p_holm = adjusted
    return rows


def _cell(test: ControlTest | None) -> list[str]:
    if test is None:
        return ["-", "-", "-"]
    return [
        f"{100 * test.score:.2f}",
        f"{100 * test.difference:+.2f} [{100 * test.ci_low:+.1f}, {100 * test.ci_high:+.1f}]",
        f"{test.p_holm:.1e}" if test.p_holm < 0.001 else f"{test.p_holm:.3f}",
    ]


def render(rows: list[ControlRow]) -> str:
    """A table: x100 scores, differences result - control with 95% intervals, p-values."""
    from tabulate import tabulate

    shown = [c for c in CONTROLS if any(c in r.tests for r in rows)]
    headers = ["model", "strategy", "partition", "n", "score"]
    for name in shown:
        headers += [name, "gain", "p (Holm)"]
    headers += ["cosine", "collapsed"]
    table = []
    for row in rows:
        line = [row.model, row.strategy, row.partition, str(row.n), f"{100 * row.score:.2f}"]
        for name in shown:
            line += _cell(row.tests.get(name))
        cosine = "-" if row.mean_cosine is None else f"{row.mean_cosine:.3f}"
        flag = "unknown" if row.collapsed is None else "COLLAPSED" if row.collapsed else "no"
        line += [cosine, flag]
        table.append(line)
    return tabulate(table, headers=headers, disable_numparse=True)


def _controls_command(args: argparse.Namespace) -> int:
    rows = control_rows(Path(args.results), seed=args.seed)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(render(rows))
        print(
            "\ngain = score - control (x100) with its paired-bootstrap 95% interval and "
            "sign-flip p, Holm-corrected over the controls of a partition; shuffled: another "
            "repository's adapter; mean_adapter: the mean update of the training "
            "repositories' adapters, the scored one left out; first_snapshot (Evo): the "
            "adapter of h_0; cosine: mean pairwise cosine of the evaluated repositories' "
            "adapter updates (collapse unknown with one repository)"
        )
    return 0


def track_rows(path: Path) -> list[dict[str, Any]]:
    """Evo results by commit: per repository and step (commits applied), how many examples
    that step scored, their mean with the adapter after that commit and with ``h_0``'s."""
    rows = []
    for run in sorted(load_runs(path), key=lambda r: (r.result.model, r.result.partition)):
        info = run.result.config.get("encoder_info") or {}
        steps = (info.get("evolution") or {}).get("steps")
        if steps is None:
            continue
        controls = info.get("controls") or {}
        metric = controls.get("metric", run.result.main_score)
        scores = read_scores(run, [metric]).columns[metric]
        first = (controls.get("per_example") or {}).get("first_snapshot")
        for step in sorted(set(steps)):
            chosen = [i for i, k in enumerate(steps) if k == step]
            rows.append({
                "model": run.result.model, "partition": run.result.partition, "step": step,
                "n": len(chosen), "score": float(np.mean(scores[chosen])),
                "first_snapshot": None if first is None else float(np.mean(
                    [first[i] for i in chosen])),
            })  # fmt: skip
    if not rows:
        raise InputError("holds no hypernet-evo result", path=path)
    return rows


def _track_command(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    rows = track_rows(Path(args.results))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    table = [[r["model"], r["partition"], r["step"], r["n"], f"{100 * r['score']:.2f}",
              "-" if r["first_snapshot"] is None else f"{100 * r['first_snapshot']:.2f}"]
             for r in rows]  # fmt: skip
    headers = ["model", "partition", "commits applied", "n", "score", "first snapshot"]
    print(tabulate(table, headers=headers, disable_numparse=True))
    return 0


def add_commands(cli: Any) -> None:
    parser = cli.add_parser("hypernet", help="hypernetwork results: controls")
    sub = parser.add_subparsers(dest="hypernet_command", metavar="ACTION", required=True)
    controls = sub.add_parser(
        "controls", help="each hypernetwork result against its shuffled and mean-adapter controls"
    )
    controls.add_argument("results", help="a result file or a folder of a result store")
    controls.add_argument("--json", action="store_true", help="print the rows as JSON")
    controls.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    controls.set_defaults(handler=_controls_command)
    track = sub.add_parser(
        "track", help="hypernet-evo results by commit: each step's examples, scored two ways"
    )
    track.add_argument("results", help="a result file or a folder of a result store")
    track.add_argument("--json", action="store_true", help="print the rows as JSON")
    track.set_defaults(handler=_track_command)
