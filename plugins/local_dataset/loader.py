"""``load_local``: mine (once), cache, and load the ``local`` dataset.

The first call mines the sources (``sources``), drops duplicates
(``splits.dedupe``), splits by file, samples each (language, split) down to
its size, and writes CodeSearchNet jsonl files (``csn_format``) to
``<cache_dir>/local/<key>/<language>/<split>.jsonl`` with a ``meta.json``.
The key hashes everything that determines the data: the miner version, the
seed, the options below (``workers`` aside), the Python and tree-sitter
versions, and every source with its version. The folder is written under a
temporary name and renamed into place, so a crash never leaves half a cache;
later calls with the same key read it without mining.

Options (``DatasetOptions.extra``, e.g. ``--set dataset.max_test=500``):

- ``max_test`` (1000), ``max_valid`` (500), ``max_train`` (4000): pairs kept
  per language and split (a seeded sample when more were mined);
- ``test_fraction`` (0.1), ``valid_fraction`` (0.1): the share of files per
  split, the rest is train;
- ``max_files`` (20000): files read at most per language;
- ``max_file_bytes`` (1000000): larger files are skipped;
- ``workers`` (1): mining processes (spawned); the data does not depend on
  it. On 2 cores a second worker saved only ~10%, so one is the default.

Partitions are the languages (``python``, ``c``, ``cpp``) whose evaluation
split has pairs. The evaluation split (``options.split``: ``test``,
``valid`` or ``train``) ranks each query against the code of every pair of
that split and language; ``options.limit`` keeps its first N pairs (the
stored order is a seeded shuffle, so that is a fair sample) and the corpus
shrinks with them. ``train`` holds the train pairs (``group`` = the file),
``valid`` the valid split unless it is the one evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.data import (
    DatasetOptions,
    RetrievalDataset,
    RetrievalPartition,
    RetrievalSplit,
    TrainPair,
)
from harness.errors import HarnessError
from harness.plugins.local_dataset import LANGUAGES
from harness.plugins.local_dataset.csn_format import read_jsonl, to_record, write_jsonl
from harness.plugins.local_dataset.mining import mine
from harness.plugins.local_dataset.pairs import Pair
from harness.plugins.local_dataset.sources import (
    Source,
    default_sources,
    python_version,
    tree_source,
)
from harness.plugins.local_dataset.splits import SPLITS, dedupe, sample, split_of
from harness.progress import console

MINER_VERSION = "1"


DEFAULTS: dict[str, int | float] = {
    "max_test": 1000,
    "max_valid": 500,
    "max_train": 4000,
    "test_fraction": 0.1,
    "valid_fraction": 0.1,
    "max_files": 20000,
    "max_file_bytes": 1_000_000,
    "workers": 1,
}


@dataclass(frozen=True)
class Settings:
    """Everything but the sources that determines the data (``workers`` does not)."""

    seed: int
    max_test: int
    max_valid: int
    max_train: int
    test_fraction: float
    valid_fraction: float
    max_files: int
    max_file_bytes: int
    workers: int

    def determining(self) -> dict[str, Any]:
        values = asdict(self)
        del values["workers"]
        return values


def settings_from(options: DatasetOptions) -> Settings:
    """The defaults overridden by ``options.extra``; a bad key or value raises HarnessError."""
    unknown = sorted(set(options.extra) - set(DEFAULTS))
    if unknown:
        raise HarnessError(
            f"dataset local: unknown option {unknown[0]!r} (known: {', '.join(sorted(DEFAULTS))})"
        )
    values: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        value = options.extra.get(name, default)
        kind = float if isinstance(default, float) else int
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise HarnessError(f"dataset local: option {name} must be a number >= 0, not {value!r}")
        if kind is int and value != int(value):
            raise HarnessError(f"dataset local: option {name} must be a whole number, not {value}")
        values[name] = kind(value)
    if values["test_fraction"] + values["valid_fraction"] > 1:
        raise HarnessError("dataset local: test_fraction + valid_fraction must be at most 1")
    return Settings(seed=options.seed, **values)


def load_local(options: DatasetOptions) -> RetrievalDataset:
    """The ``local`` dataset for `options`, mined on first use and cached."""
    if options.split not in SPLITS:
        raise HarnessError(
            f"dataset local: unknown split {options.split!r} (known: {', '.join(SPLITS)})"
        )
    for language in options.languages or []:
        if language not in LANGUAGES:
            raise HarnessError(
                f"dataset local: unknown language {language!r} (known: {', '.join(LANGUAGES)})"
            )
    settings = settings_from(options)
    sources = [tree_source(Path(options.data_dir))] if options.data_dir else default_sources()
    key = cache_key(settings, sources)
    folder = Path(options.cache_dir) / "local" / key
    if not (folder / "meta.json").is_file():
        build_cache(folder, settings, sources, key)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    languages = options.languages or [
        language for language in LANGUAGES if meta["sizes"].get(language, {}).get(options.split)
    ]
    partitions = {language: _partition(folder, language, options, meta) for language in languages}
    if not partitions:
        raise HarnessError(
            f"dataset local: no pairs in the {options.split} split were mined from "
            f"{', '.join(sorted({str(s.root) for s in sources})) or 'no sources'} ({folder})"
        )
    return RetrievalDataset(
        name="local",
        partitions=partitions,
        meta={
            "source_roots": sorted({source["root"] for source in meta["sources"]}),
            "n_sources": len(meta["sources"]),
            "sizes": meta["sizes"],
            "seed": settings.seed,
            "miner_version": MINER_VERSION,
            "cache_key": key,
            "cache_dir": str(folder),
            "settings": meta["settings"],
            "eval_split": options.split,
            "limit": options.limit,
            "format": "CodeSearchNet jsonl; query = first paragraph of the doc",
        },
    )


def cache_key(settings: Settings, sources: list[Source]) -> str:
    """A hash of everything that determines the mined data (24 hex digits)."""
    described = {
        "miner_version": MINER_VERSION,
        "python": python_version(),
        "tree_sitter": [
            _version(name) for name in ("tree-sitter", "tree-sitter-c", "tree-sitter-cpp")
        ],
        "settings": settings.determining(),
        "sources": [source.describe() for source in sources],
    }
    text = json.dumps(described, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def build_cache(folder: Path, settings: Settings, sources: list[Source], key: str) -> None:
    """Mine `sources` and write the dataset to `folder`, atomically."""
    pairs, report = mine(
        sources,
        seed=settings.seed,
        quota={"train": settings.max_train, "valid": settings.max_valid, "test": settings.max_test},
        valid_fraction=settings.valid_fraction,
        test_fraction=settings.test_fraction,
        max_files=settings.max_files,
        max_file_bytes=settings.max_file_bytes,
        workers=settings.workers,
    )
    chosen = choose(pairs, settings)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.parent / f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    sizes: dict[str, dict[str, int]] = {}
    try:
        for (language, split), kept in sorted(chosen.items()):
            (temporary / language).mkdir(parents=True, exist_ok=True)
            records = (to_record(pair, split) for pair in kept)
            count = write_jsonl(temporary / language / f"{split}.jsonl", records)
            sizes.setdefault(language, {})[split] = count
        meta = {
            "dataset": "local",
            "cache_key": key,
            "miner_version": MINER_VERSION,
            "seed": settings.seed,
            "settings": settings.determining(),
            "sizes": sizes,
            "mining": report.as_dict(),
            "sources": [source.describe() for source in sources],
        }
        (temporary / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if folder.exists() and not (folder / "meta.json").is_file():
            shutil.rmtree(folder)  # not a cache: a cache appears whole, meta.json included
        os.replace(temporary, folder)
    except OSError:
        if not (folder / "meta.json").is_file():
            raise
        # another process wrote the same cache first; its files are identical
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    total = sum(sum(by_split.values()) for by_split in sizes.values())
    console().print(
        f"local dataset: kept {total} pairs of {sum(report.pairs_found.values())} found in "
        f"{sum(report.files_read.values())} files ({report.seconds:.1f} s); cached in {folder}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def choose(pairs: list[Pair], settings: Settings) -> dict[tuple[str, str], list[Pair]]:
    """Deduplicated pairs by (language, split), each sampled down to its size."""
    grouped: dict[tuple[str, str], list[Pair]] = {
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
    limits = {"train": settings.max_train, "valid": settings.max_valid, "test": settings.max_test}
    return {
        (language, split): sample(kept, limits[split], settings.seed, f"{language}/{split}")
        for (language, split), kept in grouped.items()
    }


def _partition(
    folder: Path, language: str, options: DatasetOptions, meta: dict[str, Any]
) -> RetrievalPartition:
    if not meta["sizes"].get(language, {}).get(options.split):
        mined = ", ".join(
            f"{lang} {sizes.get(options.split, 0)}" for lang, sizes in sorted(meta["sizes"].items())
        )
        raise HarnessError(
            f"dataset local: no {language} pairs in the {options.split} split "
            f"(mined per language: {mined or 'none'}; {folder})"
        )
    records = read_jsonl(folder / language / f"{options.split}.jsonl")
    if options.limit is not None:
        records = records[: options.limit]
    train = [
        TrainPair(r["docstring"], r["code"], group=f"{r['repo']}/{r['path']}")
        for r in read_jsonl(folder / language / "train.jsonl")
    ]
    valid = None
    if options.split != "valid" and meta["sizes"][language].get("valid"):
        valid = _split(read_jsonl(folder / language / "valid.jsonl"))
    return RetrievalPartition(name=language, eval=_split(records), train=train, valid=valid)


def _split(records: list[dict[str, Any]]) -> RetrievalSplit:
    return RetrievalSplit(
        queries={r["url"]: r["docstring"] for r in records},
        corpus={r["url"]: r["code"] for r in records},
        qrels={r["url"]: {r["url"]: 1} for r in records},
    )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"
