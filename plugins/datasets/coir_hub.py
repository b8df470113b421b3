"""CoIR's retrieval sets read from the Hugging Face hub, in either of its two layouts.

- ``queries-corpus`` (what CoIR's own package, ``coir.data_loader.load_data_from_hf``,
  reads, and what MTEB's first CoIR tasks read): two repositories per task,
  ``<hub_id>-queries-corpus`` with the splits ``corpus`` and ``queries``, and
  ``<hub_id>-qrels`` with the splits ``train``, ``valid`` and ``test`` (columns
  ``query_id``, ``corpus_id``, ``score``);
- ``single``: one repository ``<hub_id>`` with the configs ``corpus`` (split ``corpus``),
  ``queries`` (split ``queries``) and ``default`` (the qrels: splits ``train``, ``valid``,
  ``test``; columns ``query-id``, ``corpus-id``, ``score``), as MTEB's later tasks read it.

``--set dataset.layout=auto`` (default) tries ``queries-corpus`` first, CoIR's own, then
``single``; ``queries-corpus`` or ``single`` asks for one alone. The layout read, and why
an earlier one was not, is in the dataset's meta (``hub_layout``, ``hub_attempts``).
``dataset.revision`` pins the repository of corpus and queries, ``dataset.qrels_revision``
the qrels repository of the ``queries-corpus`` layout. Either layout's qrels may name
their columns either way. As CoIR's package does, every query with a positive score in the
split is ranked against the whole corpus.
"""

from __future__ import annotations

from typing import Any

from harness.data import DatasetOptions, RetrievalDataset, RetrievalPartition
from harness.errors import HarnessError

SPLITS = {"test": "test", "valid": "valid", "dev": "valid", "train": "train"}
"""CoIR's split names (BEIR's: ``dev`` is ``valid``), by what ``--split`` may say."""
PROTOCOL = "each query ranked against the whole corpus; every qrel with score > 0 relevant"

LAYOUTS = ("queries-corpus", "single")
Tables = tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]
Asked = tuple[str, str | None, str, str | None]


def asked(layout: str, hub_id: str, split: str, extra: dict[str, Any]) -> dict[str, Asked]:
    """What `layout` reads for each table: (repository, config, split, revision).

    >>> asked("queries-corpus", "CoIR-Retrieval/apps", "test", {})["qrels"]
    ('CoIR-Retrieval/apps-qrels', None, 'test', None)
    >>> asked("single", "CoIR-Retrieval/apps", "test", {})["qrels"]
    ('CoIR-Retrieval/apps', 'default', 'test', None)
    """
    revision = extra.get("revision")
    if layout == "queries-corpus":
        both = f"{hub_id}-queries-corpus"
        return {
            "corpus": (both, None, "corpus", revision),
            "queries": (both, None, "queries", revision),
            "qrels": (f"{hub_id}-qrels", None, split, extra.get("qrels_revision")),
        }
    return {
        "corpus": (hub_id, "corpus", "corpus", revision),
        "queries": (hub_id, "queries", "queries", revision),
        "qrels": (hub_id, "default", split, revision),
    }


def read(dataset: str, tables: dict[str, Asked], hint: str) -> Tables:
    """The rows of each table, and where each came from (harness.plugins.datasets.hub)."""
    from harness.plugins.datasets.hub import hub_rows

    rows, sources = {}, {}
    for table, (repository, config, split, revision) in tables.items():
        rows[table], sources[table] = hub_rows(
            dataset, repository, config=config, split=split, revision=revision, files_hint=hint
        )
    return rows, sources


def _column(row: dict[str, Any], names: tuple[str, str], where: str) -> Any:
    for name in names:
        if name in row:
            return row[name]
    raise HarnessError(f"{where}: a qrels row has no {names[0]!r} (or {names[1]!r}) column")


def from_hub(
    options: DatasetOptions, hub_id: str, dataset: str, *, files_hint: str, partition: str
) -> RetrievalDataset:
    """One partition of a CoIR task read from the hub, in the first layout that loads."""
    from harness.plugins.datasets import common
    from harness.plugins.datasets.hub import is_offline

    split = common.split_name(options.split, SPLITS, dataset)
    layout = str(options.extra.get("layout", "auto"))
    if layout not in ("auto", *LAYOUTS):
        raise HarnessError(
            f"dataset {dataset}: --set dataset.layout={layout!r} is not one of auto, "
            + ", ".join(LAYOUTS)
        )
    order = LAYOUTS if layout == "auto" else (layout,)
    attempts: dict[str, str] = {}
    for name in order:
        try:
            tables = asked(name, hub_id, split, options.extra)
            rows, sources = read(dataset, tables, files_hint)
            break
        except HarnessError as exc:
            if is_offline():
                raise
            attempts[name] = str(exc)
    else:
        tried = "; ".join(f"layout {name}: {problem}" for name, problem in attempts.items())
        raise HarnessError(f"dataset {dataset}: no CoIR hub layout could be read ({tried})")
    where = f"hub:{hub_id}"
    builder = common.SplitBuilder(options.split)
    for row in rows["corpus"]:
        title = row.get("title") or ""
        text = f"{title} {row['text']}" if title else row["text"]
        builder.add_doc(str(row["_id"]), text, where, None)
    queries = {str(row["_id"]): row["text"] for row in rows["queries"]}
    for row in rows["qrels"]:
        qid = str(_column(row, ("query_id", "query-id"), where))
        doc = str(_column(row, ("corpus_id", "corpus-id"), where))
        score = int(row["score"])
        if score <= 0 or qid not in queries:
            continue  # a score of 0 says "not relevant", as in the files' qrels
        if qid not in builder.queries:
            builder.add_query(qid, queries[qid], where, None)
        builder.add_relevant(qid, doc, score, where, None)
    evaluated = common.limited(builder.build(source=where), options.limit)
    parts = {partition: RetrievalPartition(name=partition, eval=evaluated)}
    meta = {
        "source": where,
        "hub_layout": name,
        "hub": sources,
        "hub_attempts": attempts,
        "protocol": PROTOCOL,
        "eval_split": split,
        **common.limit_meta(parts, options.limit),
    }
    return RetrievalDataset(name=dataset, partitions=parts, meta=meta)
