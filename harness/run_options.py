"""The options of `harness run`: one parser, read by the command line, a --config file and a
baseline's suite (harness.check), so a run's settings have one shape however they are given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli_args import add_results_option, positive_int
from harness.errors import HarnessError
from harness.exp_config import OptionTable, defer_defaults, seed_list, settings_aliases
from harness.extensions import RunFlag


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


def add_run_parser(sub: Any) -> argparse.ArgumentParser:
    """The `run` subcommand's parser, with its `OptionTable` (the keys of a --config file
    and of a baseline's suite entries are its options)."""
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
    run.add_argument(
        "--max-length",
        type=positive_int,
        help="tokens per text (default: the model's own: a sentence-transformers folder's "
        "max_seq_length, else 512; capped by the model's positions)",
    )
    run.add_argument("--batch-size", type=positive_int, default=32)
    run.add_argument(
        "--pooling",
        choices=["mean", "cls", "max", "lasttoken", "last", "weightedmean", "mean_sqrt_len_tokens"],
        help="override the encoder's pooling (sentence-transformers' modes; last = lasttoken)",
    )
    run.add_argument(
        "--dtype",
        choices=["auto", "native", "float32", "bfloat16"],
        default="auto",
        help="auto: float32 for encoders (bf16 moved MRR by up to 0.0014), bf16 on cuda for "
        "causal LMs; native: bfloat16 where the hardware computes it (CUDA, CPUs with "
        "AVX512-BF16 or AMX), else float32; float32: bit-comparable, to reproduce published "
        "fp32 numbers; bfloat16 anywhere (slow where emulated)",
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
    return run


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


def run_option_table() -> OptionTable:
    """The `run` parser's options and defaults, without a command line."""
    parser = argparse.ArgumentParser(prog="harness", add_help=False)
    table: OptionTable = add_run_parser(parser.add_subparsers()).get_default("option_table")
    return table
