"""`harness report` and `harness plot`: their parsers and handlers (heavy modules are
imported inside the handlers so `harness --help` stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli_results import _add_test_options, write_output
from harness.errors import HarnessError

KINDS = ("bars", "forest", "cost", "track", "loss")
FIGURE_FORMATS = (".svg", ".png", ".pdf")


def add_commands(sub: Any) -> None:
    """Add `report` and `plot` to the `harness` subparsers."""
    report = sub.add_parser(
        "report", help="the results as one self-contained HTML page: tables and figures"
    )
    _common(report)
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.html")
    report.set_defaults(handler=_cmd_report)
    plot = sub.add_parser("plot", help="one figure of the report for a paper (svg, png, pdf)")
    _common(plot)
    plot.add_argument("--kind", required=True, choices=KINDS)
    plot.add_argument(
        "--column",
        metavar="PARTITION",
        help="bars, forest: one column (default: every column, side by side)",
    )
    plot.add_argument("-o", "--output", type=Path, required=True, metavar="FIG.svg|png|pdf")
    plot.set_defaults(handler=_cmd_plot)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, metavar="RESULTS", help="result store or file")
    parser.add_argument("--task", help="(default: every task in the store)")
    parser.add_argument("--dataset", help="(default: every dataset of the task)")
    parser.add_argument(
        "--baseline",
        default="none",
        metavar="STRATEGY",
        help="the strategy the paired differences are taken from (none)",
    )
    _add_test_options(parser)  # --alpha, --bootstrap, --permutations, --seed


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """What `harness.reportpage.collect.build_reports` takes from the command line."""
    return {
        "task": args.task,
        "dataset": args.dataset,
        "baseline": args.baseline,
        "alpha": args.alpha,
        "n_permutations": args.permutations,
        "n_bootstrap": args.bootstrap,
        "seed": args.seed,
    }


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.reportpage.page import report_html

    if args.output.suffix.lower() not in (".html", ".htm"):
        raise HarnessError(f"-o {args.output}: the report is an HTML file (name it .html)")
    write_output(args.output, report_html(args.results, **_options(args)))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    suffix = args.output.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise HarnessError(f"-o {args.output}: a figure is .svg, .png or .pdf, not {suffix!r}")
    if not args.output.parent.is_dir():
        raise HarnessError(f"-o {args.output}: no such folder {args.output.parent}")
    from harness.reportpage.plot import plot_figure

    plot_figure(args.results, args.kind, args.output, column=args.column, **_options(args))
    print(f"wrote {args.output}")
    return 0
