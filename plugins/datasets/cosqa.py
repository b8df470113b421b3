"""Plugin ``cosqa``: CoSQA web queries against its Python codebase (CoCLR's retrieval protocol).

Files (the CoCLR release of CoSQA, Huang et al. 2021), in ``--data-dir DIR``::

    DIR/cosqa-retrieval-train-<n>.json   a JSON list of {idx, doc, code, code_tokens,
    DIR/cosqa-retrieval-dev-<n>.json         docstring_tokens, label, retrieval_idx}
    DIR/cosqa-retrieval-test-<n>.json
    DIR/code_idx_map.txt                 a JSON object: code -> index; the corpus

``--split`` is ``test`` (default), ``dev`` (or ``valid``) or ``train``. Each
record with label 1 is a query (its ``doc``, id ``idx``) whose one relevant
candidate is ``retrieval_idx``, ranked against the whole codebase (corpus ids
are the indexes as strings); a record with label 0 is no query. The one
partition is ``python``. Training pairs come from the train file when it is
there (``group`` = the code index, so two queries for one function are never
each other's in-batch negatives).

Checks before anything runs, each naming the file and line: the fields and
their types, unique ``idx``, codebase indexes that are integers and unique,
every ``retrieval_idx`` in the codebase, at least one query.

Without ``--data-dir``, and online, CoIR's copy of CoSQA is read from the hub
(``CoIR-Retrieval/cosqa``, in either of CoIR's layouts, its own two repositories
``cosqa-queries-corpus`` and ``cosqa-qrels`` first (``coir_hub``): its own split of
the same data, recorded as ``protocol: coir`` with the layout read; ``--set
dataset.hub_id=...``, ``dataset.revision=...``, ``dataset.qrels_revision=...``,
``dataset.layout=...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import DatasetOptions, RetrievalDataset, RetrievalPartition, TrainPair
from harness.errors import InputError
from harness.hookspecs import hookimpl

NAME = "cosqa"
SPLITS = {"test": "test", "dev": "dev", "valid": "dev", "train": "train"}
OPTIONS = ("hub_id", "revision", "qrels_revision", "layout")
CODEBASE = "code_idx_map.txt"
FILES_HINT = (
    "put the CoCLR release's cosqa-retrieval-{train,dev,test}-*.json and code_idx_map.txt "
    "in a folder and pass it with --data-dir"
)
PROTOCOL = "CoCLR retrieval: each query ranked against the whole codebase (code_idx_map.txt)"


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.cosqa:load_cosqa",
        "CoSQA web queries -> Python functions, ranked against its 6,267-function codebase",
        options="harness.plugins.datasets.cosqa:OPTIONS",
        tasks=["t2c"],
        languages=["python"],
    )


def load_cosqa(options: DatasetOptions) -> RetrievalDataset:
    """The CoSQA split `options.split` from ``options.data_dir`` (or the hub)."""
    from harness.plugins.datasets import common

    common.check_options(options.extra, OPTIONS, NAME)
    split = common.split_name(options.split, SPLITS, NAME)
    if options.data_dir is None:
        return _from_hub(options)
    folder = Path(options.data_dir)
    corpus, index_at = read_codebase(_existing(folder / CODEBASE))
    query_file = split_file(folder, split)
    builder = common.SplitBuilder(options.split)
    for doc, text in corpus.items():
        builder.add_doc(doc, text, folder / CODEBASE, index_at[doc])
    for line, record in _records(query_file):
        if record["label"] != 1:
            continue
        builder.add_query(record["idx"], record["doc"], query_file, line)
        builder.add_relevant(record["idx"], str(record["retrieval_idx"]), 1, query_file, line)
    evaluated = common.limited(
        builder.build(corpus_name=CODEBASE, source=query_file), options.limit
    )
    train_file = optional_split_file(folder, "train") if split != "train" else None
    train = common.LazyTrainPairs(lambda: _train_pairs(train_file))
    partition = RetrievalPartition(name="python", eval=evaluated, train=train)  # type: ignore[arg-type]
    meta = {
        "source": str(folder.resolve()),
        "files": [query_file.name, CODEBASE],
        "protocol": PROTOCOL,
        "eval_split": split,
        "n_queries": len(evaluated.queries),
        "n_corpus": len(evaluated.corpus),
        **common.limit_meta({"python": partition}, options.limit),
    }
    return RetrievalDataset(name=NAME, partitions={"python": partition}, meta=meta)


def read_codebase(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Corpus (index as a string -> code) and the line of each entry of ``code_idx_map.txt``."""
    from harness.plugins.datasets.common import json_object_entries

    corpus: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for line, code, index in json_object_entries(path):
        if isinstance(index, bool) or not isinstance(index, int):
            raise InputError(
                f"the index of a code must be an integer, not {index!r}", path=path, line=line
            )
        doc = str(index)
        if doc in corpus:
            raise InputError(
                f"index {index} is given to two codes (first at line {line_of[doc]})",
                path=path,
                line=line,
            )
        corpus[doc], line_of[doc] = code, line
    if not corpus:
        raise InputError("the codebase is empty", path=path)
    return corpus, line_of


def split_file(folder: Path, split: str) -> Path:
    """The one ``cosqa-retrieval-<split>-*.json`` file of `folder`."""
    found = optional_split_file(folder, split)
    if found is None:
        raise InputError(f"no cosqa-retrieval-{split}-*.json here; {FILES_HINT}", path=folder)
    return found


def optional_split_file(folder: Path, split: str) -> Path | None:
    """The one ``cosqa-retrieval-<split>-*.json`` file of `folder`, or None."""
    found = sorted(folder.glob(f"cosqa-retrieval-{split}-*.json"))
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise InputError(f"several files for the {split} split: {names}", path=folder)
    return found[0] if found else None


def _train_pairs(path: Path | None) -> list[TrainPair]:
    """Label-1 records of the train file (``group`` = the code index), [] without one."""
    if path is None:
        return []
    rows = _records(path)
    return [
        TrainPair(r["doc"], r["code"], group=str(r["retrieval_idx"]))
        for _, r in rows
        if r["label"] == 1
    ]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"missing; {FILES_HINT}", path=path)
    return path


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from harness.plugins.datasets.common import field, json_list_rows

    rows = json_list_rows(path)
    for line, record in rows:
        for name, kind in (("idx", str), ("doc", str), ("code", str), ("label", int)):
            field(record, name, kind, path, line)
        field(record, "retrieval_idx", int, path, line)
    return rows


def _from_hub(options: DatasetOptions) -> RetrievalDataset:
    from harness.plugins.datasets.coir_hub import from_hub

    hub_id = str(options.extra.get("hub_id", "CoIR-Retrieval/cosqa"))
    dataset = from_hub(options, hub_id, NAME, files_hint=FILES_HINT, partition="python")
    meta = {**dataset.meta, "protocol": "coir", "note": "CoIR's split of CoSQA, not CoCLR's"}
    return RetrievalDataset(name=NAME, partitions=dataset.partitions, meta=meta)
