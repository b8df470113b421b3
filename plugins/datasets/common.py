"""Reading and validating benchmark files: every error names its file and line.

Readers yield ``(line, record)`` so that a check made later (a duplicate id,
a gold missing from the corpus) still points at the line that caused it.
``SplitBuilder`` collects one evaluation split and checks it whole before
anything runs: unique ids, every gold in the corpus, no empty split.

>>> builder = SplitBuilder("test")
>>> builder.add_doc("d1", "def f(): pass", "corpus.jsonl", 1)
>>> builder.add_query("q1", "a function", "queries.jsonl", 1)
>>> builder.add_relevant("q1", "d1", 1, "qrels/test.tsv", 2)
>>> builder.build().qrels
{'q1': {'d1': 1}}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.data import RetrievalPartition, RetrievalSplit, TrainPair
from harness.errors import HarnessError, InputError
from harness.jsonl import check_text, decoded, open_bytes

Where = tuple[object, int | None]
T = TypeVar("T")


def _read(path: Path) -> str:
    try:
        with open_bytes(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    return decoded(data, path)


class _Scanner:
    """Walks a JSON document value by value, knowing the line of each."""

    def __init__(self, path: Path) -> None:
        self.path, self.text, self.at = path, _read(path), 0
        self.decoder = json.JSONDecoder()
        self.escapes = "\\u" in self.text  # only a \u escape can make a lone surrogate
        self._counted_to, self._lines = 0, 1  # newlines are counted once, forward only

    def line(self) -> int:
        if self.at > self._counted_to:
            self._lines += self.text.count("\n", self._counted_to, self.at)
            self._counted_to = self.at
        return self._lines

    def skip(self) -> str:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, *allowed: str) -> str:
        char = self.skip()
        if char not in allowed:
            found = repr(char) if char else "the end of the file"
            raise InputError(
                f"not JSON: expected {' or '.join(map(repr, allowed))}, found {found}",
                path=self.path,
                line=self.line(),
            )
        self.at += 1
        return char

    def value(self) -> tuple[int, Any]:
        self.skip()
        line = self.line()
        try:
            value, self.at = self.decoder.raw_decode(self.text, self.at)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", path=self.path, line=exc.lineno) from None
        except RecursionError:
            raise InputError("JSON nested too deeply", path=self.path, line=line) from None
        if self.escapes:
            check_text(value, self.path, line)
        return line, value

    def end(self) -> None:
        if self.skip():
            raise InputError("not JSON: extra data", path=self.path, line=self.line())


def json_list_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each element of a file holding one JSON list of objects."""

    def row(scanner: _Scanner) -> tuple[int, dict[str, Any]]:
        line, value = scanner.value()
        if not isinstance(value, dict):
            raise InputError("not a JSON object", path=path, line=line)
        return line, value

    return _members(_Scanner(path), "[", "]", row)


def json_object_entries(path: Path) -> list[tuple[int, str, Any]]:
    """``(line, key, value)`` for each entry of a file holding one JSON object."""

    def entry(scanner: _Scanner) -> tuple[int, str, Any]:
        line, key = scanner.value()
        if not isinstance(key, str):
            raise InputError("not JSON: an object key must be a string", path=path, line=line)
        scanner.expect(":")
        return line, key, scanner.value()[1]

    return _members(_Scanner(path), "{", "}", entry)


def _members(
    scanner: _Scanner, opening: str, closing: str, read: Callable[[_Scanner], T]
) -> list[T]:
    """What `read` makes of each member of the one list or object the file holds."""
    scanner.expect(opening)
    members: list[T] = []
    if scanner.skip() == closing:
        scanner.at += 1
    else:
        while True:
            members.append(read(scanner))
            if scanner.expect(",", closing) == closing:
                break
    scanner.end()
    return members


_KIND_NAMES = {str: "a string", int: "an integer", list: "a list of strings"}


def field(record: dict[str, Any], name: str, kind: type, path: object, line: int | None) -> Any:
    """``record[name]``, checked to be `kind` (str, int, or list: a list of strings)."""
    if name not in record:
        raise InputError(f"missing field {name!r}", path=path, line=line)
    value = record[name]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if ok and kind is list:
        ok = all(isinstance(item, str) for item in value)
    if not ok:
        raise InputError(
            f"field {name!r} must be {_KIND_NAMES[kind]}, not {_json_type(value)}",
            path=path,
            line=line,
        )
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return names.get(type(value), "a list" if isinstance(value, list) else "an object")


class SplitBuilder:
    """One evaluation split, collected with where each piece came from, then checked."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.queries: dict[str, str] = {}
        self.corpus: dict[str, str] = {}
        self.qrels: dict[str, dict[str, int]] = {}
        self.query_pool: dict[str, str] = {}
        self.corpus_pool: dict[str, str] = {}
        self._query_at: dict[str, Where] = {}
        self._doc_at: dict[str, Where] = {}
        self._qrel_at: dict[tuple[str, str], Where] = {}

    def add_query(self, qid: str, text: str, path: object, line: int | None) -> None:
        _add_once(self.queries, self._query_at, "query", qid, text, (path, line))

    def add_doc(self, doc: str, text: str, path: object, line: int | None) -> None:
        _add_once(self.corpus, self._doc_at, "corpus", doc, text, (path, line))

    def add_relevant(self, qid: str, doc: str, grade: int, path: object, line: int | None) -> None:
        self.qrels.setdefault(qid, {})[doc] = grade
        self._qrel_at[(qid, doc)] = (path, line)

    def build(self, *, corpus_name: str = "the corpus", source: object = None) -> RetrievalSplit:
        """The split, after the checks every loader shares; raises InputError.

        `source` is the file named when the split has no queries at all.
        """
        for (qid, doc), (path, line) in self._qrel_at.items():
            if qid not in self.queries:
                raise InputError(f"query {qid!r} is not among the queries", path=path, line=line)
            if doc not in self.corpus:
                raise InputError(
                    f"gold {doc!r} of query {qid!r} is not in {corpus_name}", path=path, line=line
                )
        for qid, (path, line) in self._query_at.items():
            if not any(grade > 0 for grade in self.qrels.get(qid, {}).values()):
                raise InputError(f"query {qid!r} has no relevant document", path=path, line=line)
        if not self.queries:
            raise InputError(f"no queries in the {self.split} split", path=source)
        return RetrievalSplit(
            queries=self.queries,
            corpus=self.corpus,
            qrels=self.qrels,
            query_pool=self.query_pool or None,
            corpus_pool=self.corpus_pool or None,
        )


def _add_once(
    texts: dict[str, str], found_at: dict[str, Where], what: str, key: str, text: str, at: Where
) -> None:
    """Add a query's or a document's text; a blank one or an id given twice is refused."""
    path, line = at
    _not_blank(key, text, what, path, line)
    if key in texts:
        raise InputError(
            f"duplicate {what} id {key!r} ({_first(found_at[key])})", path=path, line=line
        )
    texts[key], found_at[key] = text, at


def _not_blank(item: str, text: str, what: str, path: object, line: int | None) -> None:
    """An empty id or text is a broken record, not something to rank."""
    if not item.strip():
        raise InputError(f"empty {what} id", path=path, line=line)
    if not text.strip():
        raise InputError(f"{what} {item!r} has an empty text", path=path, line=line)


def _first(where: Where) -> str:
    path, line = where
    return f"first at {path}:{line}" if line is not None else f"first in {path}"


LIMIT_RULE = "queries"
"""What ``--limit N`` cuts in every retrieval dataset: the evaluated queries (the first N
of each partition); the candidates stay the whole corpus (or pool), so a limited run ranks
among as many candidates as a full one and its per-query scores are the full run's."""


def limited(split: RetrievalSplit, limit: int | None) -> RetrievalSplit:
    """The first `limit` queries with their qrels; the corpus stays whole (``LIMIT_RULE``).

    Pooled splits keep every pool of a kept query whole and drop the pools no kept query
    ranks in: the same candidates for each query, less to encode.
    """
    if limit is None or limit >= len(split.queries):
        return split
    kept = list(split.queries)[:limit]
    corpus, corpus_pool = split.corpus, split.corpus_pool
    query_pool = {q: split.query_pool[q] for q in kept} if split.query_pool else None
    if query_pool is not None and corpus_pool is not None:
        asked = set(query_pool.values())
        corpus_pool = {d: pool for d, pool in corpus_pool.items() if pool in asked}
        corpus = {d: text for d, text in corpus.items() if d in corpus_pool}
    return RetrievalSplit(
        queries={q: split.queries[q] for q in kept},
        corpus=corpus,
        qrels={q: split.qrels[q] for q in kept},
        query_pool=query_pool,
        corpus_pool=corpus_pool,
    )


def n_candidates(split: RetrievalSplit) -> int:
    """How many candidates a query is ranked among: the corpus, or the largest pool."""
    if split.corpus_pool is None:
        return len(split.corpus)
    return max(Counter(split.corpus_pool.values()).values(), default=0)


def limit_meta(partitions: Mapping[str, RetrievalPartition], limit: int | None) -> dict[str, Any]:
    """What every retrieval loader records about ``--limit`` in its meta (and so in every
    result's config): the limit, the rule (``LIMIT_RULE``) and each partition's candidates.

    >>> split = RetrievalSplit({"q": "t"}, {"d1": "a", "d2": "b"}, {"q": {"d1": 1}})
    >>> limit_meta({"python": RetrievalPartition("python", split)}, 1)
    {'limit': 1, 'limit_rule': 'queries', 'n_candidates': {'python': 2}}
    """
    counts = {name: n_candidates(p.eval) for name, p in sorted(partitions.items())}
    return {"limit": limit, "limit_rule": LIMIT_RULE, "n_candidates": counts}


def split_name(requested: str, names: dict[str, str], dataset: str) -> str:
    """The file name of a split: `names` maps harness names (and aliases) to the dataset's."""
    if requested not in names:
        known = ", ".join(sorted(names))
        raise HarnessError(f"dataset {dataset}: unknown split {requested!r} (known: {known})")
    return names[requested]


def check_options(extra: dict[str, Any], known: tuple[str, ...], dataset: str) -> None:
    """Unknown ``--set dataset.X`` options are an error, not silently ignored."""
    unknown = sorted(set(extra) - set(known))
    if unknown:
        names = ", ".join(known) or "none"
        raise HarnessError(f"dataset {dataset}: unknown option {unknown[0]!r} (known: {names})")


class LazyTrainPairs(Sequence[TrainPair]):
    """Training pairs read on first use: an evaluation with strategy ``none`` never reads
    a training split (CodeSearchNet's python train file alone is 250k lines).

    A bad training file raises when a strategy first asks for the pairs.
    """

    def __init__(self, read: Callable[[], list[TrainPair]]) -> None:
        self._read: Callable[[], list[TrainPair]] | None = read
        self._pairs: list[TrainPair] = []

    def _loaded(self) -> list[TrainPair]:
        if self._read is not None:
            self._pairs, self._read = self._read(), None
        return self._pairs

    def __len__(self) -> int:
        return len(self._loaded())

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __iter__(self) -> Iterator[TrainPair]:
        return iter(self._loaded())

    def __repr__(self) -> str:
        state = "not read yet" if self._read is not None else f"{len(self._pairs)} pairs"
        return f"LazyTrainPairs({state})"
