"""CLI commands over stored results: compare, leaderboard, check, export.

`add_commands(sub)` adds their parsers; `harness.cli.build_parser` calls it.
Heavy modules are imported inside the handlers so `harness --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import atomic
from harness.cli_args import add_results_option, positive_int
from harness.errors import HarnessError

DEFAULT_REPORTED = Path("<leaderboards/reported.toml>")
"""Stands for harness.leaderboard.REPORTED_FILE without importing it (and numpy) at start."""


def _probability(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} must lie strictly between 0 and 1")
    return number


def _add_test_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=_probability, default=0.05, help="(default 0.05)")
    parser.add_argument(
        "--bootstrap",
        type=positive_int,
        default=1000,
        metavar="N",
        help="bootstrap resamples (1000)",
    )
    parser.add_argument(
        "--permutations",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="sign-flip resamples of the paired test (10000)",
    )
    parser.add_argument("--seed", type=int, default=0)


def add_commands(sub: Any) -> None:
    """Add `compare`, `leaderboard`, `check` and `export` to the `harness` subparsers."""
    compare = sub.add_parser(
        "compare", help="paired tests of two runs (result files or store folders)"
    )
    compare.add_argument("a", type=Path, metavar="A", help="result file or folder (baseline)")
    compare.add_argument("b", type=Path, metavar="B", help="result file or folder")
    compare.add_argument(
        "--metric", action="append", help="only this metric (repeatable; default: all shared)"
    )
    _add_by_option(compare)
    _add_test_options(compare)
    compare.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    compare.set_defaults(handler=_cmd_compare)
    _add_leaderboard(sub)
    _add_check(sub)
    _add_export(sub)


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare_paths, render_comparisons

    comparisons, pairs = compare_paths(
        args.a,
        args.b,
        metrics=args.metric,
        n_bootstrap=args.bootstrap,
        n_permutations=args.permutations,
        seed=args.seed,
        by=args.by,
    )
    if args.json:
        rows = [
            {**vars(c), "difference": c.difference, "significant": c.significant(args.alpha)}
            for c in comparisons
        ]
        print(json.dumps(rows, indent=2))
        return 0
    print(
        render_comparisons(
            comparisons,
            pairs,
            (str(args.a), str(args.b)),
            alpha=args.alpha,
            n_bootstrap=args.bootstrap,
            n_permutations=args.permutations,
        )
    )
    return 0


def _add_by_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="FIELD",
        help="per value of this per-example field (e.g. answer_source: file, repo, none), "
        "the partitions pooled",
    )


def _add_leaderboard(sub: Any) -> None:
    board = sub.add_parser("leaderboard", help="a table of the stored runs of one task")
    board.add_argument("--task", required=True)
    board.add_argument("--dataset", help="(default: the only one the task has results on)")
    board.add_argument("--metric", help="(default: the results' main score)")
    add_results_option(board)
    board.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")
    board.add_argument("--format", choices=["markdown", "csv", "json", "latex"], default="markdown")
    board.add_argument(
        "--reported",
        nargs="?",
        action="append",
        const=DEFAULT_REPORTED,
        type=Path,
        metavar="FILE|DIR",
        help="add published rows: a TOML file (default: leaderboards/reported.toml), MTEB "
        "result files (a task's .json or a results folder); repeatable",
    )
    board.add_argument(
        "--cost",
        action="store_true",
        help="completion: score against prompt tokens, seconds per request, one-off cost "
        "and break-even requests, per strategy (docs/cost.md)",
    )
    board.add_argument(
        "--baseline",
        metavar="STRATEGY",
        help="--cost: the strategy break-even is computed against "
        "(default: the first ranked one with results, e.g. rag, else none)",
    )
    _add_by_option(board)
    _add_test_options(board)
    board.set_defaults(handler=_cmd_leaderboard)


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.leaderboard import REPORTED_FILE, build
    from harness.leaderboard_format import render

    if args.cost:
        return _cmd_cost(args)
    if args.baseline:
        raise HarnessError("--baseline applies to the cost view: add --cost")
    if args.by and args.reported:
        raise HarnessError("--by: published rows have no per-example fields; drop --reported")
    reported = [REPORTED_FILE if p == DEFAULT_REPORTED else p for p in args.reported or []]
    board = build(
        args.results,
        args.task,
        dataset=args.dataset,
        metric=args.metric,
        alpha=args.alpha,
        n_permutations=args.permutations,
        seed=args.seed,
        reported=reported,
        by=args.by,
    )
    command = ["harness leaderboard --task", args.task, "--dataset", board.dataset]
    command += ["--by", args.by] if args.by else []
    command += ["--metric", board.metric, "--results", str(args.results)]
    for given in args.reported or []:
        command += ["--reported"] if given == DEFAULT_REPORTED else ["--reported", str(given)]
    defaults = {"alpha": 0.05, "permutations": 10_000, "seed": 0}
    command += [f"--{k} {getattr(args, k)}" for k, v in defaults.items() if getattr(args, k) != v]
    if args.format != "markdown":
        command += ["--format", args.format]
    if args.output:
        command += ["-o", str(args.output)]
    from harness.leaderboard_cost import cost_columns

    costs = cost_columns(args.results, args.task, board.dataset)
    text = render(
        board, args.format, commands=[*board.run_commands, " ".join(command)], costs=costs
    )
    if args.output:
        write_output(args.output, text)
    else:
        print(text, end="")
    return 0


def _cmd_cost(args: argparse.Namespace) -> int:
    from harness.leaderboard_cost import build_costs, render_costs

    if args.reported is not None:
        raise HarnessError("--reported does not apply to the cost view (--cost)")
    if args.by:
        raise HarnessError("--by: the cost view shows every breakdown the results carry already")
    view = build_costs(
        args.results,
        args.task,
        dataset=args.dataset,
        metric=args.metric,
        baseline=args.baseline,
        n_resamples=args.bootstrap,
        seed=args.seed,
    )
    command = ["harness leaderboard --cost --task", args.task, "--dataset", view.dataset]
    command += ["--results", str(args.results)]
    if args.baseline:
        command += ["--baseline", args.baseline]
    text = render_costs(view, args.format, commands=[" ".join(command)])
    if args.output:
        write_output(args.output, text)
    else:
        print(text, end="")
    return 0


def _add_check(sub: Any) -> None:
    check = sub.add_parser(
        "check", help="regression check: a suite of runs against a stored per-example baseline"
    )
    check.add_argument("--baseline", type=Path, required=True, metavar="FILE")
    check.add_argument(
        "--tolerance",
        type=_tolerance,
        metavar="X",
        help="drops up to X (metric units; 0.01 = 1 point x100) pass "
        "(default: the baseline's, else 0.01)",
    )
    check.add_argument(
        "--results",
        type=Path,
        metavar="DIR",
        help="check the runs stored here instead of running the baseline's suite",
    )
    check.add_argument(
        "--update-baseline", action="store_true", help="record the current scores as the baseline"
    )
    check.add_argument("--alpha", type=_probability, default=0.05, help="(default 0.05)")
    check.add_argument(
        "--allow-underpowered",
        action="store_true",
        help="check even when the suite cannot detect a drop of twice its tolerance",
    )
    check.set_defaults(handler=_cmd_check)


def _tolerance(value: str) -> float:
    from harness.check import check_tolerance

    try:
        return check_tolerance(float(value))
    except (ValueError, HarnessError) as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number in [0, 1)") from exc


def _cmd_check(args: argparse.Namespace) -> int:
    import tempfile

    from harness import check

    baseline = check.read_baseline(args.baseline)
    tolerance = args.tolerance
    if tolerance is None:
        tolerance = float(baseline.get("tolerance", check.DEFAULT_TOLERANCE))
    stored = None
    if not args.update_baseline:
        # stated, and refused when too small, before anything runs
        stored = check.baseline_runs(baseline, args.baseline)
        plan = check.power_plan(stored, tolerance, args.alpha)
        refusal = check.underpowered(plan, tolerance, args.alpha)
        if refusal and not args.allow_underpowered:
            raise HarnessError(refusal)
        print(check.power_statement(plan, tolerance, args.alpha), flush=True)
    with tempfile.TemporaryDirectory(prefix="harness-check-") as scratch:
        runs, commands = check.current_runs(baseline, args.baseline, args.results, Path(scratch))
        if stored is None:
            metrics = baseline.get("metrics")
            updated = check.updated_baseline(baseline, runs, commands, metrics)
            check.write_baseline(args.baseline, updated)
            print(f"recorded {len(runs)} run(s) in {args.baseline}")
            plan = check.power_plan(
                check.baseline_runs(updated, args.baseline), tolerance, args.alpha
            )
            print(check.power_statement(plan, tolerance, args.alpha))
            return 0
        verdicts = check.check_runs(stored, runs, tolerance=tolerance, alpha=args.alpha)
    print(check.render_verdicts(verdicts, tolerance, args.alpha))
    return 1 if any(v.failed for v in verdicts) else 0


def _add_export(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="stored results in another benchmark's format (mteb: its results layout)"
    )
    export.add_argument("results", type=Path, metavar="RESULTS", help="result store or file")
    export.add_argument("out", type=Path, metavar="OUT", help="folder to write results/ into")
    export.add_argument("--format", required=True, choices=["mteb"])
    export.add_argument(
        "--task-name",
        action="append",
        default=[],
        metavar="[PARTITION=]TASK",
        help="state that the data is this MTEB task's (all partitions, or one); "
        "default: the task of the hub dataset the run read",
    )
    export.add_argument(
        "--model-name", metavar="ORG/NAME", help="the model's MTEB name (default: its hub id)"
    )
    export.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from harness.mteb_format import export_mteb

    names: dict[str, str] = {}
    for given in args.task_name:
        partition, _, task = given.rpartition("=")
        if not task or partition in names:
            raise HarnessError(f"--task-name {given!r}: give TASK or PARTITION=TASK, once each")
        names[partition] = task
    written = export_mteb(args.results, args.out, task_names=names, model_name=args.model_name)
    print(f"wrote {len(written)} file(s) under {args.out / 'results'}")
    return 0


def write_output(path: Path, text: str) -> None:
    """`-o FILE`: written whole or not at all (a failure leaves no empty or partial file)."""
    try:
        atomic.write(path, text)
    except OSError as exc:
        raise HarnessError(f"-o {path}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {path}")
