"""The `harness` command line. Subcommands: run, list, plugins (and any a plugin adds)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import __version__, cli_results
from harness.cli_args import add_results_option, positive_int
from harness.errors import HarnessError
from harness.exp_config import defer_defaults, seed_list, settings_aliases
from harness.extensions import RunFlag


class OneLineParser(argparse.ArgumentParser):
    """Usage errors end in one line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"harness: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _setting(value: str) -> tuple[str, str, Any]:
    key, sep, raw = value.partition("=")
    section, dot, name = key.partition(".")
    if not sep or not dot or not section or not name:
        raise argparse.ArgumentTypeError(
            f"--set {value!r}: expected SECTION.KEY=VALUE "
            "(sections: dataset, encoder, strategy, task)"
        )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = raw
    return section, name, parsed


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="evaluate a model with a strategy on a task (or a matrix of them)",
        description="Lists (--model a,b --strategy none,taskwise --set lora.r=8,16) run a "
        "matrix; see docs/experiments.md.",
    )
    run.add_argument("--model", help="encoder name or hf:<id-or-path> (comma list: a matrix)")
    run.add_argument(
        "--strategy", default="none", help="adaptation strategy (default: none; comma list)"
    )
    run.add_argument("--task", help="task name, e.g. t2c (comma list)")
    run.add_argument("--dataset", help="dataset name (default: the task card's; comma list)")
    run.add_argument("--data-dir", type=Path, help="local copy of the dataset, or a source tree")
    run.add_argument("--split", help="evaluation split (default: the task card's, usually test)")
    run.add_argument("--languages", type=_csv, help="only these partitions, e.g. python,c")
    run.add_argument(
        "--limit",
        type=positive_int,
        help="at most N queries per partition (numbers then not comparable)",
    )
    add_results_option(run)
    run.add_argument(
        "--cache-dir",
        type=Path,
        help="mined data and adapters (default: $HARNESS_CACHE_DIR or ~/.cache/harness)",
    )
    run.add_argument("--overwrite", action="store_true", help="recompute complete partitions")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--seeds",
        type=seed_list,
        metavar="S,S,...",
        help="one replicate per seed (data split, training, bootstrap), e.g. 0,1,2",
    )
    run.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda:N")
    run.add_argument("--max-length", type=positive_int, default=512, help="tokens per text")
    run.add_argument("--batch-size", type=positive_int, default=32)
    run.add_argument("--pooling", choices=["mean", "cls"], help="override the encoder's pooling")
    run.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="auto: float32 for encoders, bf16 on cuda for causal LMs; bfloat16 runs encoders "
        "under autocast (~1.7x faster on CPU, embeddings ~1e-3 off)",
    )
    run.add_argument(
        "--bootstrap",
        type=positive_int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the 95%% intervals (default 1000)",
    )
    run.add_argument(
        "--corpus-chunk-size",
        type=positive_int,
        default=4096,
        help="candidates scored at a time (bounds memory)",
    )
    run.add_argument(
        "--no-embedding-cache",
        dest="embedding_cache",
        action="store_false",
        help="encode every text afresh (default: reuse embeddings cached under --cache-dir)",
    )
    run.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="S.K=V",
        help="plugin option, e.g. --set dataset.max_test=500; lora.r=8,16 or a|b: one cell each",
    )
    flags = _add_plugin_flags(run)
    run.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    run.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let a hub model run the Python code it ships (off by default; recorded in results)",
    )
    run.add_argument("--config", type=Path, metavar="FILE", help="the experiment as TOML")
    run.add_argument(
        "--sweep",
        choices=["cross", "zip"],
        default="cross",
        help="how lists of settings combine (default: cross; zip pairs them in order)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="list the cells, what is cached and the work"
    )
    defer_defaults(run, flags, settings_aliases())  # so flags given override a --config file
    run.set_defaults(handler=_cmd_run)


def _add_plugin_flags(run: argparse.ArgumentParser) -> dict[str, RunFlag]:
    """The flags plugins add to `harness run` (``--preset``: the adapter strategies')."""
    from harness.plugin_manager import plugins

    flags: dict[str, RunFlag] = {}
    for entry in plugins().run_flags.in_order():
        flag = entry.load()
        if not isinstance(flag, RunFlag):
            raise HarnessError(f"run flag {entry.name!r} of plugin {entry.plugin!r} is no RunFlag")
        run.add_argument(
            f"--{entry.name}", type=flag.parse, metavar=flag.metavar, help=entry.description
        )
        flags[entry.name.replace("-", "_")] = flag
    return flags


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
