"""``harness data mine PATH... --out DIR``: a CodeSearchNet-format dataset from source trees.

The same miners, deduplication and file-disjoint splits as the ``local``
dataset (``dataset_files``), with every pair kept unless ``--max-test`` and
friends cap them, and every language the miners know unless ``--languages``
narrows them. A PATH is a folder (a git checkout contributes its tracked
files) or, with ``--default-sources``, none: then the sources ``local`` mines
(the standard library, the installed packages, the C headers). Writes::

    DIR/meta.json
    DIR/<language>/{train,valid,test}.jsonl   CodeSearchNet records
    DIR/<language>/codebase.jsonl             valid + test: the GraphCodeBERT layout

and prints a table of counts per language and split. ``harness run --task
t2c --dataset csn --data-dir DIR`` evaluates on it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from harness.plugins.local_dataset.command_parts import mine_parser, renamed_apart

UNLIMITED = 10**12


def add_data_commands(sub: Any) -> None:
    """``mine`` and ``mine-rc``, added to the core's ``harness data`` group (`sub`: its
    subcommands; the ``local`` dataset's registration key ``data_commands`` names this)."""
    mine = mine_parser(
        sub,
        "mine",
        "mine CodeSearchNet-format jsonl (functions and their doc comments) from source",
        __doc__,
        "source tree(s)",
    )
    mine.add_argument(
        "--default-sources",
        action="store_true",
        help="also mine what the local dataset mines: stdlib, installed packages, C headers",
    )
    mine.add_argument(
        "--languages", help="comma-separated (default: all: python,go,java,javascript,...)"
    )
    mine.add_argument("--min-query-words", type=int, default=3, metavar="N")
    mine.add_argument("--seed", type=int, default=0, help="decides each file's split")
    mine.add_argument("--test-fraction", type=float, default=0.1)
    mine.add_argument("--valid-fraction", type=float, default=0.1)
    for split in ("test", "valid", "train"):
        mine.add_argument(f"--max-{split}", type=int, metavar="N", help=f"cap {split} pairs")
    mine.add_argument("--max-files", type=int, metavar="N", help="files read per language")
    mine.add_argument("--max-file-bytes", type=int, default=1_000_000, metavar="N")
    mine.add_argument(
        "--workers", type=int, default=0, help="mining processes (0: one per core, at most 8)"
    )
    mine.add_argument(
        "--force", action="store_true", help="replace DIR if it holds an earlier mined dataset"
    )
    mine.set_defaults(handler=run_mine)
    from harness.plugins.local_dataset.completion_command import add_mine_rc_command

    add_mine_rc_command(sub)


def run_mine(args: argparse.Namespace) -> int:
    """Mine, write and summarise; bad arguments raise HarnessError (exit 2)."""
    from harness.errors import HarnessError
    from harness.plugins.local_dataset.dataset_files import (
        format_table,
        mine_and_choose,
        require_new,
        summary_rows,
        write_dataset,
    )
    from harness.plugins.local_dataset.languages import ALL_LANGUAGES
    from harness.plugins.local_dataset.loader import MINER_VERSION
    from harness.plugins.local_dataset.settings import Settings, parse_languages
    from harness.plugins.local_dataset.sources import default_sources, tree_source

    languages = parse_languages(args.languages or list(ALL_LANGUAGES), "data mine --languages")
    if not args.paths and not args.default_sources:
        raise HarnessError("data mine: name a PATH to mine, or --default-sources")
    for name in ("test_fraction", "valid_fraction"):
        if not 0 <= getattr(args, name) <= 1:
            raise HarnessError(f"data mine: --{name.replace('_', '-')} must be in [0, 1]")
    if args.test_fraction + args.valid_fraction > 1:
        raise HarnessError("data mine: --test-fraction + --valid-fraction must be at most 1")
    sources = [tree_source(path) for path in args.paths]
    if args.default_sources:
        sources += default_sources()
    sources = renamed_apart(sources, "repo")
    out = Path(args.out)
    if args.force and (out / "meta.json").is_file():
        shutil.rmtree(out)
    require_new(out)
    settings = Settings(
        seed=args.seed,
        max_test=_cap(args.max_test),
        max_valid=_cap(args.max_valid),
        max_train=_cap(args.max_train),
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        max_files=_cap(args.max_files),
        max_file_bytes=args.max_file_bytes,
        min_query_words=args.min_query_words,
        workers=max(0, args.workers),
        languages=languages,
    )
    chosen, report = mine_and_choose(sources, settings)
    meta = {
        "dataset": "mined",
        "format": "CodeSearchNet jsonl; query = first paragraph of the doc",
        "miner_version": MINER_VERSION,
        "settings": settings.determining(),
        "mining": report.as_dict(),
        "sources": [source.describe() for source in sources],
    }
    sizes = write_dataset(out, chosen, meta, codebase=True)
    header = ["language", "files read", "pairs found", "train", "valid", "test", "kept"]
    print(format_table(header, summary_rows(sizes, report)))
    print(f"wrote {out} ({report.seconds:.1f} s of mining)")
    return 0


def _cap(value: int | None) -> int:
    return UNLIMITED if value is None else max(0, value)
