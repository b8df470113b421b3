"""``load_local``: mine (once), cache, and load the ``local`` dataset.

The first call mines the sources (``sources``), drops duplicates
(``splits.dedupe``), splits by file, samples each (language, split) down to
its size, and writes CodeSearchNet jsonl files (``dataset_files``) to
``<cache_dir>/local/<key>/<language>/<split>.jsonl`` with a ``meta.json``:
what ``harness data mine`` writes too. The key hashes everything that
determines the data: the miner version, the seed, the options
(``settings``; ``workers`` aside), the Python and tree-sitter versions, and
every source with its version. The folder is written under a temporary name
and renamed into place, so a crash never leaves half a cache; later calls
with the same key read it without mining.

Partitions are the mined languages whose evaluation split has pairs. The
evaluation split (``options.split``: ``test``, ``valid`` or ``train``)
ranks each query against the code of every pair of that split and language;
``options.limit`` keeps the first N queries (the stored order is a seeded
shuffle, so that is a fair sample) and the corpus stays whole, the rule of
every retrieval dataset (``datasets.common.LIMIT_RULE``).
``train`` holds the train pairs (``group`` = the file), ``valid`` the valid
split unless it is the one evaluated.

What a task gets is decided by its card's kind, never by its name: a
``completion`` task gets assertion-completion examples (``completion_loader``),
a ``retrieval`` task these pairs. A retrieval task whose queries are code
(its card's ``queries = "code"``, handed down as ``DatasetOptions.queries``) gets them as a
clone-retrieval *proxy*: each function's transformed copy (identifiers
renamed, comments and docstrings removed, formatting changed) is the query,
the function as it is in its file the one relevant candidate. It is recorded
with ``protocol: clone-proxy`` and is no stand-in for XLCoST's numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.data import (
    CompletionDataset,
    DatasetOptions,
    RetrievalDataset,
    RetrievalPartition,
    RetrievalSplit,
    TrainPair,
)
from harness.errors import HarnessError
from harness.plugins.datasets.common import limit_meta, limited
from harness.plugins.local_dataset import clone_proxy
from harness.plugins.local_dataset.completion_loader import load_local_completion
from harness.plugins.local_dataset.csn_format import read_jsonl
from harness.plugins.local_dataset.dataset_files import mine_and_choose, write_dataset
from harness.plugins.local_dataset.settings import Settings, settings_from
from harness.plugins.local_dataset.sources import (
    Source,
    default_sources,
    python_version,
    tree_source,
)
from harness.plugins.local_dataset.splits import SPLITS
from harness.plugins.local_dataset.ts_miner import GRAMMARS
from harness.progress import console

MINER_VERSION = "2"


def load_local(options: DatasetOptions) -> RetrievalDataset | CompletionDataset:
    """The ``local`` dataset for `options`, mined on first use and cached: the loader of
    the task's kind (``LOADERS``)."""
    kind = task_kind(options.task)
    if kind not in LOADERS:
        raise HarnessError(
            f"dataset local: no data for task {options.task!r} of kind {kind!r} "
            f"(kinds: {', '.join(LOADERS)})"
        )
    return LOADERS[kind](options)


def task_kind(task: str) -> str:
    """The kind its card gives `task` (``retrieval``, ``completion``)."""
    from harness.plugin_manager import plugins

    return str(plugins().tasks.get(task).load().kind)


def load_pairs(options: DatasetOptions) -> RetrievalDataset:
    """The mined pairs as a retrieval dataset (a clone proxy for a code-query task)."""
    clones = options.queries == "code"
    if options.split not in SPLITS:
        raise HarnessError(
            f"dataset local: unknown split {options.split!r} (known: {', '.join(SPLITS)})"
        )
    settings = settings_from(options)
    for language in options.languages or []:
        if language not in settings.languages:
            raise HarnessError(
                f"dataset local: unknown language {language!r} (known: "
                f"{', '.join(settings.languages)}; others: --set dataset.languages=...)"
            )
    sources = [tree_source(Path(options.data_dir))] if options.data_dir else default_sources()
    key = cache_key(settings, sources)
    folder = Path(options.cache_dir) / "local" / key
    if not (folder / "meta.json").is_file():
        build_cache(folder, settings, sources, key)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    languages = options.languages or [
        language
        for language in settings.languages
        if meta["sizes"].get(language, {}).get(options.split)
    ]
    partitions = {
        language: _partition(folder, language, options, meta, clones) for language in languages
    }
    if not partitions:
        raise HarnessError(
            f"dataset local: no pairs in the {options.split} split were mined from "
            f"{', '.join(sorted({str(s.root) for s in sources})) or 'no sources'} ({folder})"
        )
    described = {
        "source_roots": sorted({source["root"] for source in meta["sources"]}),
        "n_sources": len(meta["sources"]),
        "sizes": meta["sizes"],
        "seed": settings.seed,
        "miner_version": MINER_VERSION,
        "cache_key": key,
        "cache_dir": str(folder),
        "settings": meta["settings"],
        "eval_split": options.split,
        **limit_meta(partitions, options.limit),
        "format": "CodeSearchNet jsonl; query = first paragraph of the doc",
    }
    if clones:
        described.update(clone_proxy.META)
        described["c2c_sizes"] = {name: len(p.eval) for name, p in sorted(partitions.items())}
    return RetrievalDataset(name="local", partitions=partitions, meta=described)


def cache_key(settings: Settings, sources: list[Source]) -> str:
    """A hash of everything that determines the mined data (24 hex digits)."""
    wheels = ["tree-sitter"] + [
        GRAMMARS[lang][2] for lang in settings.languages if lang in GRAMMARS
    ]
    described = {
        "miner_version": MINER_VERSION,
        "python": python_version(),
        "tree_sitter": [_version(name) for name in wheels],
        "settings": settings.determining(),
        "sources": [source.describe() for source in sources],
    }
    text = json.dumps(described, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def build_cache(folder: Path, settings: Settings, sources: list[Source], key: str) -> None:
    """Mine `sources` and write the dataset to `folder`, atomically."""
    chosen, report = mine_and_choose(sources, settings)
    meta = {
        "dataset": "local",
        "cache_key": key,
        "miner_version": MINER_VERSION,
        "seed": settings.seed,
        "settings": settings.determining(),
        "mining": report.as_dict(),
        "sources": [source.describe() for source in sources],
    }
    sizes = write_dataset(folder, chosen, meta)
    total = sum(sum(by_split.values()) for by_split in sizes.values())
    console().print(
        f"local dataset: kept {total} pairs of {sum(report.pairs_found.values())} found in "
        f"{sum(report.files_read.values())} files ({report.seconds:.1f} s); cached in {folder}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _partition(
    folder: Path, language: str, options: DatasetOptions, meta: dict[str, Any], clones: bool
) -> RetrievalPartition:
    if not meta["sizes"].get(language, {}).get(options.split):
        mined = ", ".join(
            f"{lang} {sizes.get(options.split, 0)}" for lang, sizes in sorted(meta["sizes"].items())
        )
        raise HarnessError(
            f"dataset local: no {language} pairs in the {options.split} split "
            f"(mined per language: {mined or 'none'}; {folder})"
        )
    if clones:
        return _clone_partition(folder, language, options, meta)
    records = read_jsonl(folder / language / f"{options.split}.jsonl")
    train = [
        TrainPair(r["docstring"], r["code"], group=f"{r['repo']}/{r['path']}")
        for r in read_jsonl(folder / language / "train.jsonl")
    ]
    valid = None
    if options.split != "valid" and meta["sizes"][language].get("valid"):
        valid = _split(read_jsonl(folder / language / "valid.jsonl"))
    evaluated = limited(_split(records), options.limit)
    return RetrievalPartition(name=language, eval=evaluated, train=train, valid=valid)


def _clone_partition(
    folder: Path, language: str, options: DatasetOptions, meta: dict[str, Any]
) -> RetrievalPartition:
    pairs = {
        split: clone_proxy.cached_clone_pairs(folder, language, split)
        for split in SPLITS
        if split == options.split or meta["sizes"][language].get(split)
    }
    evaluated = pairs[options.split]
    if not evaluated:
        raise HarnessError(
            f"dataset local: none of the {language} functions of the {options.split} split "
            f"has the {clone_proxy.MIN_CODE_LINES} lines of code a clone query needs ({folder})"
        )
    train = [TrainPair(p["query"], p["code"], group=p["group"]) for p in pairs.get("train", [])]
    valid = None
    if options.split != "valid" and pairs.get("valid"):
        valid = clone_proxy.clone_split(pairs["valid"])
    queries = limited(clone_proxy.clone_split(evaluated), options.limit)
    return RetrievalPartition(name=language, eval=queries, train=train, valid=valid)


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


LOADERS: dict[str, Callable[[DatasetOptions], RetrievalDataset | CompletionDataset]] = {
    "retrieval": load_pairs,
    "completion": load_local_completion,
}
"""The loader of each task kind."""
