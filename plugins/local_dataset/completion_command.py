"""``harness data mine-rc [PATH...] --out DIR``: assertion-completion data from repositories.

Each PATH is a git repository, a source tree, or a folder of repositories
(read as the ``layout`` option says, ``repositories``); with no PATH, what
``--dataset local --task rc`` mines: the standard library's tests and every
installed package that ships its own. The miner, splits and options are
those of the ``local`` dataset (``--set KEY=VALUE``, e.g. ``--set
max_per_repo=500``).

Writes::

    DIR/meta.json, examples.jsonl, files.jsonl, commits.jsonl   the local cache layout
    DIR/examples.parquet   RepoPeftBench's columns (prefix cut to context_chars)

and prints a table per repository. ``harness run --task rc --dataset
repopeft --data-dir DIR`` evaluates the parquet.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from harness import atomic
from harness.plugins.local_dataset.command_parts import mine_parser, renamed_apart


def add_mine_rc_command(sub: Any) -> None:
    """``harness data mine-rc`` on the ``data`` command's subparsers."""
    mine = mine_parser(
        sub,
        "mine-rc",
        "mine assertion-completion examples (task rc) from git repositories or source trees",
        __doc__,
        "repositories",
    )
    mine.add_argument("--seed", type=int, default=0, help="decides the splits and samples")
    mine.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the local dataset for task rc, e.g. max_per_repo=500",
    )
    mine.add_argument("--force", action="store_true", help="replace DIR if it holds mined data")
    mine.set_defaults(handler=run_mine_rc)


def run_mine_rc(args: argparse.Namespace) -> int:
    """Mine, write and summarise; bad arguments raise HarnessError (exit 2)."""
    from harness.errors import HarnessError
    from harness.plugins.local_dataset.completion_loader import (
        find_repositories,
        moved_line,
        read_examples,
        write_mined,
    )
    from harness.plugins.local_dataset.completion_mining import mine_completion
    from harness.plugins.local_dataset.completion_settings import completion_settings
    from harness.plugins.local_dataset.repositories import repositories_in

    settings = completion_settings(_options(args.set), args.seed)
    if args.paths:
        repos = [r for path in args.paths for r in repositories_in(path, settings.layout)]
    else:
        repos = find_repositories(None, settings)
    if not repos:
        raise HarnessError(
            "data mine-rc: no Python test files in " + ", ".join(map(str, args.paths))
        )
    repos = renamed_apart(repos, "name")
    out = Path(args.out)
    if (out / "meta.json").is_file():
        if not args.force:
            raise HarnessError(f"data mine-rc: {out} holds mined data already (--force replaces)")
        shutil.rmtree(out)
    elif out.exists() and any(out.iterdir()):
        raise HarnessError(f"data mine-rc: {out} exists and is not empty")
    mined = mine_completion(repos, settings)
    meta = write_mined(out, mined, settings, repos, key="mined")
    write_parquet(out / "examples.parquet", read_examples(out, settings.context_chars))
    print(_table(meta))
    print(moved_line(mined))
    print(f"wrote {out} ({len(mined.examples)} examples, {mined.seconds:.1f} s of mining)")
    return 0


def write_parquet(path: Path, examples: list[Any]) -> None:
    """`examples` as RepoPeftBench's examples parquet (``repopeft`` reads it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        "repo_id": pa.array([e.repo for e in examples], pa.string()),
        "commit_index": pa.array([e.commit_index for e in examples], pa.int64()),
        "prefix": pa.array([e.prefix for e in examples], pa.string()),
        "target": pa.array([e.target for e in examples], pa.string()),
        "cross_repo_split": pa.array([e.cross_repo_split for e in examples], pa.string()),
        "in_repo_split": pa.array([e.in_repo_split for e in examples], pa.string()),
        "test_file": pa.array([e.test_file for e in examples], pa.string()),
    }
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    atomic.write(path, sink.getvalue().to_pybytes())  # whole or not at all, as the folder


def _options(settings: list[str]) -> dict[str, Any]:
    from harness.errors import HarnessError

    options: dict[str, Any] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        if not sep or not name.strip():
            raise HarnessError(f"data mine-rc: --set {setting!r}: expected KEY=VALUE")
        try:
            options[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[name.strip()] = raw
    return options


def _table(meta: dict[str, Any]) -> str:
    from harness.plugins.local_dataset.dataset_files import format_table

    header = ["repository", "split", "files read", "examples", "train", "val", "test", "moved",
              "commits"]  # fmt: skip
    rows = []
    for name, info in sorted(meta["repos"].items()):
        in_repo = info["in_repo"]
        rows.append(
            [
                name,
                info["cross_repo_split"] or "left out",
                str(info["files_read"]),
                str(info["kept"]),
                *(str(in_repo.get(split, 0)) for split in ("train", "val", "test")),
                str(info.get("in_repo_moved", 0)),
                str(info["commits"]),
            ]
        )
    return format_table(header, rows)
