"""Mined pairs -> a folder of CodeSearchNet jsonl files, the one layout both
the ``local`` cache and ``harness data mine`` write::

    <folder>/meta.json                   settings, sources, sizes, mining report
    <folder>/<language>/train.jsonl      CodeSearchNet records (csn_format)
    <folder>/<language>/valid.jsonl
    <folder>/<language>/test.jsonl
    <folder>/<language>/codebase.jsonl   valid + test records (``data mine`` only):
                                         the GraphCodeBERT/UniXcoder layout, so
                                         ``--dataset csn --data-dir <folder>`` reads it

A folder is written under a temporary name and renamed into place, so it
appears whole (``meta.json`` included) or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.plugins.local_dataset import csn_format
from harness.plugins.local_dataset.mining import MiningReport, mine
from harness.plugins.local_dataset.pairs import Pair
from harness.plugins.local_dataset.settings import Settings
from harness.plugins.local_dataset.sources import Source
from harness.plugins.local_dataset.splits import SPLITS, dedupe, sample, split_of

Chosen = dict[tuple[str, str], list[Pair]]


def mine_and_choose(sources: list[Source], settings: Settings) -> tuple[Chosen, MiningReport]:
    """Mine `sources` for `settings`, then deduplicate, split and sample (``choose``)."""
    pairs, report = mine(sources, **settings.mining_args())
    return choose(pairs, settings), report


def choose(pairs: list[Pair], settings: Settings) -> Chosen:
    """Deduplicated pairs by (language, split), each sampled down to its size."""
    grouped: Chosen = {
        (language, split): [] for language in {p.language for p in pairs} for split in SPLITS
    }
    for pair in dedupe(pairs):
        split = split_of(
            pair.file_key,
            settings.seed,
            valid_fraction=settings.valid_fraction,
            test_fraction=settings.test_fraction,
        )
        grouped[(pair.language, split)].append(pair)
    return {
        (language, split): sample(kept, settings.quota[split], settings.seed, f"{language}/{split}")
        for (language, split), kept in grouped.items()
    }


def write_dataset(
    folder: Path, chosen: Chosen, meta: dict[str, Any], *, codebase: bool = False
) -> dict[str, dict[str, int]]:
    """Write `chosen` and `meta` (plus ``sizes``) to `folder` atomically; returns the sizes.

    An existing `folder` with a ``meta.json`` is left as it is (another
    process wrote the same data first); one without is not a dataset and is
    replaced.
    """
    sizes: dict[str, dict[str, int]] = {}

    def fill(temporary: Path) -> None:
        for (language, split), kept in sorted(chosen.items()):
            (temporary / language).mkdir(parents=True, exist_ok=True)
            records = (csn_format.to_record(pair, split) for pair in kept)
            count = csn_format.write_jsonl(temporary / language / f"{split}.jsonl", records)
            sizes.setdefault(language, {})[split] = count
        if codebase:
            for language in sizes:
                evaluated = [
                    (p, s) for s in ("valid", "test") for p in chosen.get((language, s), [])
                ]
                records = (csn_format.to_record(pair, split) for pair, split in evaluated)
                csn_format.write_jsonl(temporary / language / "codebase.jsonl", records)
        text = json.dumps({**meta, "sizes": sizes}, indent=1) + "\n"
        (temporary / "meta.json").write_text(text, encoding="utf-8")

    with atomic.publishing(folder, keep="meta.json") as temporary:  # a hash names it
        fill(temporary)
    return sizes


def summary_rows(sizes: dict[str, dict[str, int]], report: MiningReport) -> list[list[str]]:
    """Rows of the summary table: language, files read, pairs found, kept per split, total."""
    rows = []
    totals = [0] * 6
    for language in sorted(set(sizes) | set(report.files_read)):
        by_split = sizes.get(language, {})
        numbers = [
            report.files_read.get(language, 0),
            report.pairs_found.get(language, 0),
            *(by_split.get(split, 0) for split in SPLITS),
            sum(by_split.values()),
        ]
        totals = [a + b for a, b in zip(totals, numbers, strict=True)]
        rows.append([language, *map(str, numbers)])
    rows.append(["total", *map(str, totals)])
    return rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain text table, the first column left-aligned and the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def require_new(folder: Path) -> None:
    """Refuse to write into a folder that has files in it."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise HarnessError(f"{folder}: exists and is not empty; choose another --out or delete it")
