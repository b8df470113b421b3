"""The `harness` command line. Subcommands: run, list, plugins (and any a plugin adds)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from harness import __version__, cli_data, cli_results
from harness.errors import HarnessError
from harness.hardware import keep_freed_memory
from harness.reportpage import cli as reportpage_cli
from harness.run_options import add_run_parser


class OneLineParser(argparse.ArgumentParser):
    """Usage errors end in one line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"harness: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _add_run(sub: Any) -> None:
    add_run_parser(sub).set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.matrix_run import run_command

    return run_command(args)


def _cmd_list(args: argparse.Namespace) -> int:
    from harness.plugin_manager import plugins

    loaded = plugins()
    sections = [
        ("encoders", "encoders"),
        ("strategies", "strategies"),
        ("tasks", "tasks"),
        ("datasets", "datasets"),
        ("task kinds", "task_kinds"),
        ("metrics", "metrics"),
        ("run flags (harness run --NAME)", "run_flags"),
    ]
    for title, kind in sections:
        print(f"{title}:")
        for entry in loaded.registries[kind]:
            name = entry.name + "<id-or-path>" if entry.is_prefix else entry.name
            print(f"  {name:<22} {entry.description}  [{entry.plugin}]")
            if getattr(args, "options", False):
                _print_details(entry.meta)
    return 0


DETAILS = ("kind", "hub_id", "pooling", "tasks", "languages", "task_kind")
"""Registration keys `harness list --options` shows, one line each."""


def _print_details(meta: dict[str, Any]) -> None:
    """The entry's descriptive keys, then one line per option: name, default, whether it
    can change a result, help."""
    from harness.options import options_of

    for key in (k for k in DETAILS if meta.get(k) not in (None, "", [], ())):
        value = meta[key]
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        print(f"      {key}: {shown}")
    for option in options_of(meta.get("options", ())):
        neutral = "" if option.affects_results else "  (does not change results)"
        text = f"  {option.help}" if option.help else ""
        print(f"      {option.name} = {option.default!r}{text}{neutral}")


def _cmd_plugins(args: argparse.Namespace) -> int:
    from harness.plugin_manager import plugins

    loaded = plugins()
    rows = [
        {
            "name": p.name,
            "module": p.module,
            "distribution": p.distribution,
            "version": p.version,
            "hooks": p.hooks,
            "error": p.error,
        }
        for p in loaded.plugins
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = f"FAILED: {row['error']}" if row["error"] else ", ".join(row["hooks"])
        origin = f"{row['distribution']} {row['version']}".strip()
        print(f"{row['name']:<18} {origin:<16} {row['module']:<40} {status}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="harness",
        description="Evaluate code encoders and adapters (LoRACode, Code2LoRA) "
        "with honest statistics.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    listing = sub.add_parser("list", help="registered encoders, strategies, tasks and datasets")
    listing.add_argument(
        "--options", action="store_true", help="also each one's --set options and defaults"
    )
    listing.set_defaults(handler=_cmd_list)
    shown = sub.add_parser("plugins", help="loaded plugins, their hooks and versions")
    shown.add_argument("--json", action="store_true")
    shown.set_defaults(handler=_cmd_plugins)
    cli_results.add_commands(sub)  # compare, leaderboard, check
    reportpage_cli.add_commands(sub)  # report, plot
    cli_data.add_data_group(sub)  # data audit, and what dataset plugins add (data_commands)
    _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: Any) -> None:
    from harness.plugin_manager import hook_of, plugins, report_failure

    manager = plugins().manager
    for implementation in manager.hook.harness_register_commands.get_hookimpls():
        try:
            hook_of(manager, "harness_register_commands", implementation.plugin)(cli=sub)
        except BaseException as exc:  # sys.exit(0) or KeyboardInterrupt: this plugin alone
            problem = f"raised adding commands: {type(exc).__name__}: {exc}"
            report_failure(implementation.plugin_name, problem)


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch starts OpenMP: a waiting thread sleeps instead of spinning, so a busy
    # core elsewhere does not stall every op (1.39-1.71x beside a busy process,
    # benchmarks/test_bench_contention.py; no loss idle). A value already set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # freed memory stays with the process for the next batch's tensors instead of being
    # unmapped and faulted in again (benchmarks/test_bench_process.py); glibc only
    keep_freed_memory()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
        return int(args.handler(args))
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "harness: interrupted; complete partitions are kept, rerun to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
