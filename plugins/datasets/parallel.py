"""Plugin ``codexglue-trans``: line-aligned parallel corpora as code-to-code retrieval.

The layout of CodeXGLUE's code-to-code-trans data, in ``--data-dir DIR``::

    DIR/<split>.<a>-<b>.txt.<a>
    DIR/<split>.<a>-<b>.txt.<b>

Line i of one file is a program and line i of the other its translation
(CodeXGLUE: ``train.java-cs.txt.java`` and ``train.java-cs.txt.cs``). Every
language pair found gives two partitions, one per direction, named
``<a>-><b>`` and ``<b>-><a>`` (``java->cs``, ``cs->java``): each line of the
query language ranks every line of the other language of the split, and the
gold is the line's own translation. ``--split`` is whichever files exist:
``train``, ``valid`` (also ``val``, ``dev``) or ``test``.

Identical candidates (``--set dataset.ties=...``, recorded in every result):

- ``relevant`` (default): a candidate whose text equals the gold's, whitespace
  collapsed, is relevant too; a model cannot tell two identical texts apart,
  so ranking the twin first is not a miss;
- ``gold``: only the line's own translation is relevant (CodeXGLUE's
  alignment as it is; a twin ranked first counts as a miss).

Training pairs (the ``train`` files, read when a strategy asks): every aligned
line in each direction. ``group`` joins lines that share a text on either side
(whitespace collapsed), so a repeated program or translation is never its own
in-batch negative.

Checks, each a one-line error naming ``file:line``: both files of a split
present, equal line counts, no empty line, UTF-8.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.data import DatasetOptions, RetrievalDataset, RetrievalPartition, TrainPair
from harness.errors import HarnessError, InputError
from harness.hookspecs import hookimpl

NAME = "codexglue-trans"
SPLITS = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}
OPTIONS = ("ties",)
TIES = {
    "relevant": "the line's own translation, and every candidate whose text equals it with "
    "whitespace collapsed (identical candidates tie; ranking a twin first is no miss)",
    "gold": "the line's own translation only (a twin ranked above it counts as a miss)",
}
FILES_HINT = (
    "put <split>.<a>-<b>.txt.<a> and <split>.<a>-<b>.txt.<b> (CodeXGLUE code-to-code-trans, "
    "line i of each file one program and its translation) in a folder and pass it with --data-dir"
)
_FILE = re.compile(r"^(?P<split>[^.]+)\.(?P<a>[^.\-]+)-(?P<b>[^.\-]+)\.txt\.(?P<side>[^.\-]+)$")
SEPARATOR = "->"


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.parallel:load_parallel",
        "line-aligned parallel corpora (CodeXGLUE code-to-code-trans): a program ranks "
        "translations, one partition per direction",
        options="harness.plugins.datasets.parallel:OPTIONS",
        tasks=["c2c"],
    )


def language_pairs(data_dir: Path) -> list[tuple[str, str]]:
    """The ``(a, b)`` of every ``<split>.<a>-<b>.txt.<a|b>`` file in `data_dir`, sorted."""
    pairs = set()
    for path in Path(data_dir).iterdir():
        match = _FILE.match(path.name)
        if match and match["side"] in (match["a"], match["b"]) and match["a"] != match["b"]:
            pairs.add((match["a"], match["b"]))
    return sorted(pairs)


def load_parallel(options: DatasetOptions) -> RetrievalDataset:
    """Both directions of every language pair of split `options.split`."""
    from harness.plugins.datasets import common

    common.check_options(options.extra, OPTIONS, NAME)
    split = common.split_name(options.split, SPLITS, NAME)
    ties = str(options.extra.get("ties", "relevant"))
    if ties not in TIES:
        raise HarnessError(f"dataset {NAME}: unknown ties {ties!r} (known: {', '.join(TIES)})")
    if options.data_dir is None:
        raise HarnessError(f"dataset {NAME}: no --data-dir given; {FILES_HINT}")
    data_dir = Path(options.data_dir)
    if not data_dir.is_dir():
        raise InputError(f"not a folder; {FILES_HINT}", path=data_dir)
    pairs = language_pairs(data_dir)
    wanted = set(options.languages) if options.languages else None
    known = [SEPARATOR.join(d) for a, b in pairs for d in ((a, b), (b, a))]
    unknown = sorted((wanted or set()) - set(known))
    if unknown:
        raise HarnessError(
            f"dataset {NAME}: no partition {unknown[0]!r} in {data_dir} "
            f"(known: {', '.join(known) or f'none; {FILES_HINT}'})"
        )
    partitions: dict[str, RetrievalPartition] = {}
    for a, b in pairs:
        directions = [(a, b), (b, a)]
        if wanted is not None:
            directions = [d for d in directions if SEPARATOR.join(d) in wanted]
        if not directions:
            continue
        first, second = _file(data_dir, split, a, b, a), _file(data_dir, split, a, b, b)
        if not first.exists() and not second.exists():
            continue  # this pair has no such split
        lines = aligned(first, second)
        for query_lang, doc_lang in directions:
            name = SEPARATOR.join((query_lang, doc_lang))
            queries = lines[0] if query_lang == a else lines[1]
            docs = lines[1] if query_lang == a else lines[0]
            files = (first, second) if query_lang == a else (second, first)
            evaluated = _split(queries, docs, (query_lang, doc_lang), files, ties, split)
            train = common.LazyTrainPairs(
                lambda q=query_lang, a=a, b=b: _train_pairs(data_dir, split, (a, b), q)
            )
            partitions[name] = RetrievalPartition(
                name=name,
                eval=common.limited(evaluated, options.limit),
                train=train,  # type: ignore[arg-type]  # a lazy Sequence
            )
    if not partitions:
        raise InputError(
            f"no {split} files (partitions found: {', '.join(known) or 'none'}); {FILES_HINT}",
            path=data_dir,
        )
    meta = {
        "source": str(data_dir.resolve()),
        "eval_split": split,
        "ties": ties,
        "qrels": TIES[ties],
        "sizes": {n: [len(p.eval.queries), len(p.eval.corpus)] for n, p in partitions.items()},
        **common.limit_meta(partitions, options.limit),
    }
    return RetrievalDataset(name=NAME, partitions=dict(sorted(partitions.items())), meta=meta)


def _file(data_dir: Path, split: str, a: str, b: str, side: str) -> Path:
    return data_dir / f"{split}.{a}-{b}.txt.{side}"


def read_lines(path: Path) -> list[str]:
    """The lines of `path` without their line ends; an empty line is an InputError."""
    from harness.jsonl import text_lines

    lines = []
    for number, line in text_lines(path):
        text = line.rstrip("\r\n")
        if not text.strip():
            raise InputError("empty line: every line must hold one program", path=path, line=number)
        lines.append(text)
    return lines


def aligned(first: Path, second: Path) -> tuple[list[str], list[str]]:
    """The lines of two counterpart files, checked to be present and of equal count."""
    for path, other in ((first, second), (second, first)):
        if not path.is_file():
            raise InputError(f"missing: the counterpart of {other.name}; {FILES_HINT}", path=path)
    left, right = read_lines(first), read_lines(second)
    if len(left) != len(right):
        longer, shorter, n = (first, second, len(right)) if len(left) > len(right) else (
            second, first, len(left))  # fmt: skip
        raise InputError(
            f"no counterpart: {shorter.name} has only {n} lines", path=longer, line=n + 1
        )
    return left, right


def collapsed(text: str) -> str:
    """`text` with every run of whitespace one space, none at the ends (the tie key)."""
    return " ".join(text.split())


def _split(
    queries: list[str],
    docs: list[str],
    languages: tuple[str, str],
    files: tuple[Path, Path],
    ties: str,
    split: str,
) -> Any:
    from harness.plugins.datasets.common import SplitBuilder

    (query_lang, doc_lang), (query_file, doc_file) = languages, files
    builder = SplitBuilder(split)
    twins: dict[str, list[str]] = {}
    for number, text in enumerate(docs, start=1):
        doc = f"{doc_lang}:{number}"
        builder.add_doc(doc, text, doc_file, number)
        twins.setdefault(collapsed(text), []).append(doc)
    for number, text in enumerate(queries, start=1):
        query, gold = f"{query_lang}:{number}", f"{doc_lang}:{number}"
        builder.add_query(query, text, query_file, number)
        relevant = twins[collapsed(docs[number - 1])] if ties == "relevant" else [gold]
        for doc in relevant:
            builder.add_relevant(query, doc, 1, query_file, number)
    return builder.build(source=query_file)


def _train_pairs(
    data_dir: Path, split: str, pair: tuple[str, str], query_lang: str
) -> list[TrainPair]:
    """The train files' aligned lines as (query language, other language) pairs; [] when
    evaluating on train, or when the pair has no train files."""
    a, b = pair
    first, second = _file(data_dir, "train", a, b, a), _file(data_dir, "train", a, b, b)
    if split == "train" or not (first.exists() or second.exists()):
        return []
    left, right = aligned(first, second)
    groups = pair_groups(left, right)
    queries, docs = (left, right) if query_lang == a else (right, left)
    return [
        TrainPair(query, doc, group=f"{a}-{b}:{group}")
        for query, doc, group in zip(queries, docs, groups, strict=True)
    ]


def pair_groups(left: list[str], right: list[str]) -> list[int]:
    """For each line, the first line (1-based) of its group: lines are joined when their
    texts on either side are equal, whitespace collapsed (union-find over both sides).

    >>> pair_groups(["a", "b", "a ", "c"], ["x", "y", "z", "y"])
    [1, 2, 1, 2]
    """
    parent = list(range(len(left)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for side in (left, right):
        first: dict[str, int] = {}
        for i, text in enumerate(side):
            j = first.setdefault(collapsed(text), i)
            ri, rj = root(i), root(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    return [root(i) + 1 for i in range(len(left))]
