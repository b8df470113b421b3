"""Plugin ``coir``: any retrieval set in the BEIR layout CoIR uses.

Files, in ``--data-dir DIR`` (one partition named after DIR), or in several
subfolders ``DIR/<name>/`` (one partition each)::

    corpus.jsonl       {"_id": ..., "title": ..., "text": ...}   (title optional)
    queries.jsonl      {"_id": ..., "text": ...}
    qrels/<split>.tsv  query-id <TAB> corpus-id <TAB> score      (a header line is allowed)

``--split`` is ``test`` (default), ``valid`` (read from ``qrels/valid.tsv`` or
``qrels/dev.tsv``) or ``train``. The queries evaluated are those with a
positive score in that split's qrels (a score of 0 is no relevance), each
ranked against the whole corpus; a query may have several relevant
documents (multi-relevant qrels). A
document's text is its title and text joined by a space. Training pairs come
from ``qrels/train.tsv`` when it is there (``group`` = the query).

Checks, each naming file and line: JSON and the field types (ids are
strings or integers), unique ids, three tab-separated columns with an integer
score, every query and gold of the qrels present, at least one query.

Without ``--data-dir``, and online: ``--set dataset.subset=<CoIR task>``
(e.g. ``cosqa``, ``codesearchnet``, ``codetrans-dl``) reads the hub's
``CoIR-Retrieval/<subset>`` in either of CoIR's two layouts: the
``<subset>-queries-corpus`` and ``<subset>-qrels`` repositories CoIR's own
package reads (tried first), or one repository with configs ``corpus``,
``queries`` and ``default``; the one read is recorded (``coir_hub``;
``dataset.layout``, ``dataset.hub_id``, ``dataset.revision``,
``dataset.qrels_revision``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import DatasetOptions, RetrievalDataset, RetrievalPartition, TrainPair
from harness.errors import HarnessError, InputError
from harness.hookspecs import hookimpl
from harness.plugins.datasets.coir_hub import PROTOCOL, SPLITS

NAME = "coir"
OPTIONS = ("subset", "hub_id", "revision", "qrels_revision", "layout")
FILES_HINT = "put corpus.jsonl, queries.jsonl and qrels/<split>.tsv in a folder, --data-dir it"


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.coir:load_coir",
        "CoIR / BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (multi-relevant)",
        options="harness.plugins.datasets.coir:OPTIONS",
        tasks=["t2c", "c2c"],
    )


def load_coir(options: DatasetOptions) -> RetrievalDataset:
    """Every partition of the BEIR-layout folder ``options.data_dir`` (or the hub)."""
    from harness.plugins.datasets import common

    common.check_options(options.extra, OPTIONS, NAME)
    split = common.split_name(options.split, SPLITS, NAME)
    if options.data_dir is None:
        subset = options.extra.get("subset")
        if not subset:
            raise HarnessError(
                f"dataset {NAME}: give --data-dir, or name a CoIR task with "
                f"--set dataset.subset=NAME to read it from the hub; {FILES_HINT}"
            )
        from harness.plugins.datasets.coir_hub import from_hub

        hub_id = str(options.extra.get("hub_id", f"CoIR-Retrieval/{subset}"))
        return from_hub(options, hub_id, NAME, files_hint=FILES_HINT, partition=str(subset))
    root = Path(options.data_dir)
    folders = _partition_folders(root)
    if not folders:
        raise InputError(f"no corpus.jsonl here or in its subfolders; {FILES_HINT}", path=root)
    wanted = options.languages or sorted(folders)
    partitions = {
        name: _partition(folders[name], name, split, options) for name in wanted if name in folders
    }
    meta = {
        "source": str(root.resolve()),
        "format": "BEIR: corpus.jsonl, queries.jsonl, qrels/<split>.tsv",
        "protocol": PROTOCOL,
        "eval_split": split,
        "sizes": {n: [len(p.eval.queries), len(p.eval.corpus)] for n, p in partitions.items()},
        **common.limit_meta(partitions, options.limit),
    }
    return RetrievalDataset(name=NAME, partitions=partitions, meta=meta)


def _partition_folders(root: Path) -> dict[str, Path]:
    """`root` itself when it holds a corpus, else its subfolders that do."""
    if (root / "corpus.jsonl").is_file():
        return {root.name: root}
    if not root.is_dir():
        return {}
    return {c.name: c for c in sorted(root.iterdir()) if (c / "corpus.jsonl").is_file()}


def _partition(folder: Path, name: str, split: str, options: DatasetOptions) -> RetrievalPartition:
    from harness.plugins.datasets import common

    corpus = _texts(folder / "corpus.jsonl", "corpus")
    queries = _texts(folder / "queries.jsonl", "queries")
    qrels_file = _qrels_file(folder, split, required=True)
    assert qrels_file is not None
    builder = common.SplitBuilder(options.split)
    for doc, (text, line) in corpus.items():
        builder.add_doc(doc, text, folder / "corpus.jsonl", line)
    for line, qid, doc, score in _qrels(qrels_file):
        if qid not in queries:
            raise InputError(f"query {qid!r} is not in queries.jsonl", path=qrels_file, line=line)
        if score <= 0:
            continue  # relevance is binary: a score of 0 says "not relevant"
        if qid not in builder.queries:
            builder.add_query(qid, queries[qid][0], folder / "queries.jsonl", queries[qid][1])
        builder.add_relevant(qid, doc, score, qrels_file, line)
    evaluated = common.limited(
        builder.build(corpus_name="corpus.jsonl", source=qrels_file), options.limit
    )
    train_file = _qrels_file(folder, "train", required=False) if split != "train" else None

    def train_pairs() -> list[TrainPair]:
        rows = _qrels(train_file) if train_file is not None else []
        return [
            TrainPair(queries[qid][0], corpus[doc][0], group=qid)
            for _, qid, doc, score in rows
            if score > 0 and qid in queries and doc in corpus
        ]

    train = common.LazyTrainPairs(train_pairs)
    return RetrievalPartition(name=name, eval=evaluated, train=train)  # type: ignore[arg-type]


def _texts(path: Path, what: str) -> dict[str, tuple[str, int]]:
    """id -> (text, line) of a corpus.jsonl or queries.jsonl."""
    from harness.jsonl import jsonl_rows
    from harness.plugins.datasets.common import field

    if not path.is_file():
        raise InputError(f"missing; {FILES_HINT}", path=path)
    texts: dict[str, tuple[str, int]] = {}
    for line, record in jsonl_rows(path):
        raw_id = record.get("_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            field(record, "_id", str, path, line)  # raises with the message for its type
        text = field(record, "text", str, path, line)
        title = field(record, "title", str, path, line) if record.get("title") is not None else ""
        key = str(raw_id)
        if key in texts:
            raise InputError(
                f"duplicate {what} id {key!r} (first at line {texts[key][1]})", path=path, line=line
            )
        texts[key] = (f"{title} {text}" if title else text, line)
    if not texts:
        raise InputError(f"no {what}", path=path)
    return texts


def _qrels_file(folder: Path, split: str, *, required: bool) -> Path | None:
    names = ("valid", "dev") if split == "valid" else (split,)
    for name in names:
        if (folder / "qrels" / f"{name}.tsv").is_file():
            return folder / "qrels" / f"{name}.tsv"
    if required:
        raise InputError(f"missing qrels/{names[0]}.tsv; {FILES_HINT}", path=folder)
    return None


def _qrels(path: Path) -> list[tuple[int, str, str, int]]:
    """``(line, query id, corpus id, score)`` of a qrels tsv; a first line whose score is
    no number (``query-id  corpus-id  score``) is the header, skipped."""
    from harness.jsonl import text_lines

    rows = []
    seen_first = False  # the first non-blank line, the only one that may be a header
    for number, raw in text_lines(path):
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 3:
            raise InputError(
                f"expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"found {len(columns)}",
                path=path,
                line=number,
            )
        first, seen_first = not seen_first, True
        if first and not _is_number(columns[2]):
            continue  # the header: told by its content ("score" is no number), not its place
        try:
            score = int(columns[2])
        except ValueError:
            raise InputError(
                f"score {columns[2]!r} is not an integer", path=path, line=number
            ) from None
        rows.append((number, columns[0], columns[1], score))
    return rows


def _is_number(text: str) -> bool:
    """Whether `text` reads as a number: a fractional or non-finite score is a bad data
    row to refuse, never a header to skip."""
    try:
        float(text)
    except ValueError:
        return False
    return True
