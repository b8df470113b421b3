"""Plugin ``xlcost``: XLCoST program-level code-to-code search, seven languages.

Files (``XLCoST_data/retrieval/code2code_search/program_level`` of the
release), in ``--data-dir DIR``; the folder names the query language::

    DIR/{C,C#,C++,Java,Javascript,PHP,Python}/{train,val,test}.jsonl

Each line is ``{"idx": "<id>-<lang>/<id>-<lang>", "docstring_tokens": [...],
"code_tokens": [...]}``: a program (the query, in the folder's language) and
one of its translations (the target). Partitions: ``c``, ``csharp``, ``cpp``,
``java``, ``javascript``, ``php``, ``python``; ``--split`` is ``test``
(default), ``valid`` (``val``) or ``train``. Texts are the tokens joined by
spaces, as LoRACode read them.

Protocols (``--set dataset.protocol=...``, recorded in the result):

- ``program`` (default): one query per program of the query language (the
  text left of ``/``), ranked against every target of the file; **every**
  translation of the query's program is relevant (multi-relevant qrels), so
  MRR counts the first translation found and NDCG@10 all of them;
- ``pair``: LoRACode's: one query per line, only that line's target
  relevant, though its other translations are in the corpus (which caps MRR).

Training pairs (the train file) carry ``group`` = the program id, so a
batch never treats two translations of one program as negatives.

Checks: JSON, field types, the ``idx`` shape, one text per id, at least one
query. XLCoST's code-to-code data has no copy on the hub under a known id;
``--set dataset.hub_id=ID`` reads a copy with the same fields (a config per
language folder, splits train/val/test) when online.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.data import DatasetOptions, RetrievalDataset, RetrievalPartition, TrainPair
from harness.errors import HarnessError, InputError
from harness.hookspecs import hookimpl

NAME = "xlcost"
FOLDERS = {
    "c": "C",
    "csharp": "C#",
    "cpp": "C++",
    "java": "Java",
    "javascript": "Javascript",
    "php": "PHP",
    "python": "Python",
}
SPLITS = {"test": "test", "valid": "val", "val": "val", "dev": "val", "train": "train"}
OPTIONS = ("protocol", "hub_id", "revision")
PROTOCOLS = ("program", "pair")
FILES_HINT = (
    "put XLCoST_data/retrieval/code2code_search/program_level/<Language>/{train,val,test}.jsonl "
    "(Language: C, C#, C++, Java, Javascript, PHP, Python) in a folder and pass it with --data-dir"
)
_IDX = re.compile(
    r"^(?P<query>(?P<program>[^/]+)-[^-/]+)/(?P<target>(?P<target_program>[^/]+)-[^-/]+)$"
)


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.xlcost:load_xlcost",
        "XLCoST program-level code-to-code search; every translation relevant",
        options="harness.plugins.datasets.xlcost:OPTIONS",
        tasks=["c2c"],
        languages=list(FOLDERS),
        available="harness.plugins.datasets.xlcost:is_present",
    )


def is_present(data_dir: Path | None) -> bool:
    """True when `data_dir` has XLCoST's layout: a language folder with any split's jsonl
    (a folder with only ``val.jsonl`` is XLCoST data too, for ``--split valid``)."""
    if data_dir is None:
        return False
    return any(
        (Path(data_dir) / folder / f"{split}.jsonl").is_file()
        for folder in FOLDERS.values()
        for split in set(SPLITS.values())
    )


def load_xlcost(options: DatasetOptions) -> RetrievalDataset:
    """Every requested language of XLCoST's split `options.split`."""
    from harness.plugins.datasets import common

    common.check_options(options.extra, OPTIONS, NAME)
    split = common.split_name(options.split, SPLITS, NAME)
    protocol = str(options.extra.get("protocol", "program"))
    if protocol not in PROTOCOLS:
        raise HarnessError(
            f"dataset {NAME}: unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        )
    languages = options.languages or list(FOLDERS)
    unknown = [language for language in languages if language not in FOLDERS]
    if unknown:
        raise HarnessError(
            f"dataset {NAME}: unknown language {unknown[0]!r} (known: {', '.join(FOLDERS)})"
        )
    partitions: dict[str, RetrievalPartition] = {}
    sources: dict[str, Any] = {}
    for language in languages:
        rows, where, sources[language] = _rows(options, language, split)
        if rows is None:
            continue
        evaluated = _split(rows, where, protocol, options.split)
        train = common.LazyTrainPairs(lambda lang=language: _train_pairs(options, lang, split))
        split_result = common.limited(evaluated, options.limit)
        partitions[language] = RetrievalPartition(
            name=language,
            eval=split_result,
            train=train,  # type: ignore[arg-type]  # a lazy Sequence
        )
    if not partitions:
        raise InputError(
            f"no language folder with {split}.jsonl; {FILES_HINT}", path=options.data_dir
        )
    meta = {
        "source": str(Path(options.data_dir).resolve()) if options.data_dir else sources,
        "protocol": protocol,
        "qrels": "every translation of the query's program"
        if protocol == "program"
        else "the query line's own target only (LoRACode)",
        "eval_split": split,
        "sizes": {n: [len(p.eval.queries), len(p.eval.corpus)] for n, p in partitions.items()},
        **common.limit_meta(partitions, options.limit),
    }
    return RetrievalDataset(name=NAME, partitions=partitions, meta=meta)


Rows = list[tuple[int | None, dict[str, Any]]]


def _rows(
    options: DatasetOptions, language: str, split: str, *, required: bool = True
) -> tuple[Rows | None, object, Any]:
    """The lines of one language's split file (or hub split), and where they come from."""
    from harness.jsonl import jsonl_rows

    if options.data_dir is not None:
        path = Path(options.data_dir) / FOLDERS[language] / f"{split}.jsonl"
        if not path.is_file():
            if required and options.languages:
                raise InputError(f"missing; {FILES_HINT}", path=path)
            return None, path, None
        return list(jsonl_rows(path)), path, str(path)
    hub_id = options.extra.get("hub_id")
    if not hub_id:
        raise HarnessError(
            f"dataset {NAME}: no --data-dir given, and XLCoST's code-to-code data has no hub "
            f"copy under a known id (--set dataset.hub_id=ID names one); {FILES_HINT}"
        )
    from harness.plugins.datasets.hub import hub_rows

    rows, source = hub_rows(
        NAME,
        str(hub_id),
        config=FOLDERS[language],
        split=split,
        revision=options.extra.get("revision"),
        files_hint=FILES_HINT,
    )
    return [(None, row) for row in rows], f"hub:{hub_id}/{FOLDERS[language]}", source


def _train_pairs(options: DatasetOptions, language: str, split: str) -> list[TrainPair]:
    """The train file's pairs, ``group`` = the program id; [] when evaluating on train."""
    if split == "train":
        return []
    rows, where, _ = _rows(options, language, "train", required=False)
    return [
        TrainPair(_text(r["docstring_tokens"]), _text(r["code_tokens"]), group=program)
        for _, r, program in _parsed(rows or [], where)
    ]


def _parsed(rows: Rows, where: object) -> list[tuple[int | None, dict[str, Any], str]]:
    """Rows with their fields checked, and the program id of each."""
    from harness.plugins.datasets.common import field

    parsed = []
    for line, row in rows:
        idx = field(row, "idx", str, where, line)
        field(row, "docstring_tokens", list, where, line)
        field(row, "code_tokens", list, where, line)
        match = _IDX.match(idx)
        if match is None:
            raise InputError(
                f"idx {idx!r} is not '<id>-<language>/<id>-<language>'", path=where, line=line
            )
        parsed.append((line, row, match.group("program")))
    return parsed


def _split(rows: Rows, where: object, protocol: str, split: str) -> Any:
    from harness.plugins.datasets.common import SplitBuilder

    builder = SplitBuilder(split)
    seen: dict[str, tuple[str, int | None]] = {}
    targets_of: dict[str, list[str]] = {}
    parsed = _parsed(rows, where)
    for line, row, _ in parsed:
        target = _IDX.match(row["idx"]).group("target")  # type: ignore[union-attr]
        code = _text(row["code_tokens"])
        if not _first_time(seen, "target", target, code, where, line):
            continue
        builder.add_doc(target, code, where, line)
        program = _IDX.match(row["idx"]).group("target_program")  # type: ignore[union-attr]
        targets_of.setdefault(program, []).append(target)
    asked: dict[str, tuple[str, int | None]] = {}
    for line, row, program in parsed:
        match = _IDX.match(row["idx"])
        assert match is not None
        text = _text(row["docstring_tokens"])
        if protocol == "pair":
            builder.add_query(row["idx"], text, where, line)
            builder.add_relevant(row["idx"], match.group("target"), 1, where, line)
            continue
        query = match.group("query")
        if _first_time(asked, "query", query, text, where, line):
            builder.add_query(query, text, where, line)
            for target in targets_of.get(program, []):
                builder.add_relevant(query, target, 1, where, line)
        builder.add_relevant(query, match.group("target"), 1, where, line)
    return builder.build(source=where)


def _first_time(
    seen: dict[str, tuple[str, int | None]],
    what: str,
    key: str,
    text: str,
    where: object,
    line: int | None,
) -> bool:
    """True when `key` is new (it is recorded); False when it was seen with the same
    `text`; an InputError when it comes back with another text."""
    if key not in seen:
        seen[key] = (text, line)
        return True
    if seen[key][0] != text:
        raise InputError(
            f"{what} {key!r} has another text than at line {seen[key][1]}", path=where, line=line
        )
    return False


def _text(tokens: list[str]) -> str:
    return " ".join(tokens)
