"""Plugin ``csn``: CodeSearchNet, six languages, under either evaluation protocol.

Partitions: ``go``, ``java``, ``javascript``, ``php``, ``python``, ``ruby``
(any language folder that is there; what ``harness data mine`` writes reads
too). Records are CodeSearchNet jsonl or jsonl.gz lines (``repo, path,
func_name, original_string, language, code, code_tokens, docstring,
docstring_tokens, url, partition``). ``--split`` is ``test`` (default),
``valid`` or ``train``. Protocols (``--set dataset.protocol=...``, recorded
in the result):

- ``codebase`` (default; GraphCodeBERT/UniXcoder, the one LoRACode uses):
  ``DIR/<lang>/{train,valid,test}.jsonl`` and ``DIR/<lang>/codebase.jsonl``;
  each query is ranked against the whole codebase, its gold the codebase
  entry with the query's ``url``;
- ``original`` (CodeSearchNet's, as CodeBERT ran it): the split file, the
  release's ``DIR/<lang>/final/jsonl/<split>/<lang>_<split>_*.jsonl.gz`` or
  ``DIR/<lang>/<split>.jsonl[.gz]``, cut in file order into pools of 1000
  (``dataset.pool_size``); each query is ranked against the code of its pool,
  its gold and 999 distractors; an incomplete last pool is dropped.

Texts (``dataset.text``): ``tokens`` (default: ``docstring_tokens`` and
``code_tokens`` joined by spaces, as the papers' scripts read them) or
``raw`` (``docstring`` and ``code``). CodeSearchNet's Python ``code`` holds
the docstring (its ``code_tokens`` and the other languages' ``code`` do not):
``raw`` removes it as the ``local`` miner does (``python_docstrings.strip_docstring``),
or every query would be in its own document. Training pairs come from the
train split (``group`` = ``repo/path``).

Checks: JSON, the fields the protocol reads and their types, unique urls,
every gold in the codebase, at least one query. Without ``--data-dir`` and
online, the ``original`` protocol reads ``code-search-net/code_search_net``
from the hub (``dataset.hub_id``, ``dataset.revision``); the codebase
protocol needs local files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import (
    DatasetOptions,
    RetrievalDataset,
    RetrievalPartition,
    RetrievalSplit,
    TrainPair,
)
from harness.errors import HarnessError, InputError
from harness.hookspecs import hookimpl

NAME = "csn"
LANGUAGES = ("go", "java", "javascript", "php", "python", "ruby")
SPLITS = {"test": "test", "valid": "valid", "dev": "valid", "train": "train"}
OPTIONS = ("protocol", "pool_size", "text", "hub_id", "revision")
PROTOCOLS = ("codebase", "original")
HUB_ID = "code-search-net/code_search_net"
HUB_FIELDS = {
    "url": "func_code_url",
    "docstring_tokens": "func_documentation_tokens",
    "code_tokens": "func_code_tokens",
    "docstring": "func_documentation_string",
    "code": "func_code_string",
    "repo": "repository_name",
    "path": "func_path_in_repository",
}
FILES_HINT = (
    "put <lang>/{train,valid,test}.jsonl and <lang>/codebase.jsonl (GraphCodeBERT's "
    "dataset/<lang>) or the CodeSearchNet release's <lang>/final/jsonl/ in a folder and pass "
    "it with --data-dir (languages: go, java, javascript, php, python, ruby)"
)


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.csn:load_csn",
        "CodeSearchNet, six languages; protocol codebase (UniXcoder) or original (1000-pools)",
        options="harness.plugins.datasets.csn:OPTIONS",
        tasks=["t2c"],
        languages=list(LANGUAGES),
    )


def load_csn(options: DatasetOptions) -> RetrievalDataset:
    """Every requested language of CodeSearchNet's split `options.split`."""
    from harness.plugins.datasets import common

    common.check_options(options.extra, OPTIONS, NAME)
    split = common.split_name(options.split, SPLITS, NAME)
    protocol = str(options.extra.get("protocol", "codebase"))
    text = str(options.extra.get("text", "tokens"))
    pool_size = options.extra.get("pool_size", 1000)
    if protocol not in PROTOCOLS:
        raise HarnessError(
            f"dataset {NAME}: unknown protocol {protocol!r} (known: codebase, original)"
        )
    if text not in ("tokens", "raw"):
        raise HarnessError(f"dataset {NAME}: text must be tokens or raw, not {text!r}")
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 2:
        raise HarnessError(
            f"dataset {NAME}: pool_size must be a whole number >= 2, not {pool_size!r}"
        )
    reader = _Reader(options, split, text)
    partitions = {}
    for language in reader.languages():
        rows = reader.split_rows(language, split)
        if rows is None:
            continue
        if protocol == "codebase":
            evaluated = reader.codebase_split(language, rows)
        else:
            evaluated = _pooled(rows, reader, pool_size, language)
        train = common.LazyTrainPairs(lambda lang=language: reader.train_pairs(lang))
        partitions[language] = RetrievalPartition(
            name=language,
            eval=common.limited(evaluated, options.limit),
            train=train,  # type: ignore[arg-type]  # a lazy Sequence
        )
    if not partitions:
        raise InputError(
            f"no language folder has the {split} split; {FILES_HINT}", path=options.data_dir
        )
    meta = {
        "source": reader.source,
        "protocol": protocol,
        "pool_size": pool_size if protocol == "original" else None,
        "text": text,
        "eval_split": split,
        "sizes": {n: [len(p.eval.queries), len(p.eval.corpus)] for n, p in partitions.items()},
        **common.limit_meta(partitions, options.limit),
    }
    return RetrievalDataset(name=NAME, partitions=partitions, meta=meta)


Rows = list[tuple[int | None, dict[str, Any], object]]


class _Reader:
    """Finds and reads one language's files (or hub split), checking the fields it uses."""

    def __init__(self, options: DatasetOptions, split: str, text: str) -> None:
        self.options, self.split, self.text = options, split, text
        self.root = Path(options.data_dir) if options.data_dir is not None else None
        self.source: Any = str(self.root.resolve()) if self.root is not None else {}

    def languages(self) -> list[str]:
        wanted = self.options.languages or list(LANGUAGES)
        unknown = [lang for lang in wanted if lang not in LANGUAGES]
        if unknown:
            known = ", ".join(LANGUAGES)
            raise HarnessError(f"dataset {NAME}: unknown language {unknown[0]!r} (known: {known})")
        return wanted

    def query(self, row: dict[str, Any]) -> str:
        return " ".join(row["docstring_tokens"]) if self.text == "tokens" else row["docstring"]

    def code(self, row: dict[str, Any], language: str) -> str:
        if self.text == "tokens":
            return " ".join(row["code_tokens"])
        if language == "python":  # the docstring is the query: keep it out of the document
            from harness.plugins.datasets.python_docstrings import strip_docstring

            return strip_docstring(row["code"])
        return str(row["code"])

    def train_pairs(self, language: str) -> list[TrainPair]:
        """The train split's pairs (``group`` = repo/path), [] when there is none."""
        if self.split == "train":
            return []
        rows = self.split_rows(language, "train", required=False) or []
        return [
            TrainPair(
                self.query(r), self.code(r, language), group=f"{r.get('repo')}/{r.get('path')}"
            )
            for _, r, _ in rows
        ]

    def checked(self, rows: Rows, *, query: bool) -> Rows:
        from harness.plugins.datasets.common import field

        names = ["url"]
        if query:
            names.append("docstring_tokens" if self.text == "tokens" else "docstring")
        names.append("code_tokens" if self.text == "tokens" else "code")
        for line, row, where in rows:
            for name in names:
                field(row, name, list if name.endswith("_tokens") else str, where, line)
        return rows

    def split_rows(self, language: str, split: str, *, required: bool = True) -> Rows | None:
        if self.root is None:
            return self._hub_rows(language, split)
        files = _split_files(self.root / language, split)
        if not files:
            if required and self.options.languages:
                raise InputError(f"no {split} file for {language}; {FILES_HINT}", path=self.root)
            return None
        return self.checked(_read(files), query=True)

    def codebase_split(self, language: str, rows: Rows) -> RetrievalSplit:
        from harness.plugins.datasets.common import SplitBuilder

        if self.root is None:
            raise HarnessError(
                f"dataset {NAME}: the codebase protocol needs local files (the hub has only "
                f"CodeSearchNet's own splits: --set dataset.protocol=original); {FILES_HINT}"
            )
        files = _split_files(self.root / language, "codebase")
        if not files:
            raise InputError(
                f"missing codebase.jsonl for the codebase protocol (or --set "
                f"dataset.protocol=original); {FILES_HINT}",
                path=self.root / language,
            )
        builder = SplitBuilder(self.options.split)
        for line, row, where in self.checked(_read(files), query=False):
            builder.add_doc(row["url"], self.code(row, language), where, line)
        for line, row, where in rows:
            builder.add_query(row["url"], self.query(row), where, line)
            builder.add_relevant(row["url"], row["url"], 1, where, line)
        source = rows[0][2] if rows else _split_files(self.root / language, self.split)[0]
        return builder.build(corpus_name=str(files[0].name), source=source)

    def _hub_rows(self, language: str, split: str) -> Rows:
        from harness.plugins.datasets.hub import hub_rows

        hub_id = str(self.options.extra.get("hub_id", HUB_ID))
        hub_split = "validation" if split == "valid" else split
        found, source = hub_rows(
            NAME,
            hub_id,
            config=language,
            split=hub_split,
            revision=self.options.extra.get("revision"),
            files_hint=FILES_HINT,
        )
        self.source[f"{language}/{split}"] = source
        where = f"hub:{hub_id}/{language}/{hub_split}"
        rows = [({k: row.get(v) for k, v in HUB_FIELDS.items()}) for row in found]
        return self.checked([(None, row, where) for row in rows], query=True)


def _pooled(rows: Rows, reader: _Reader, pool_size: int, language: str) -> RetrievalSplit:
    """CodeSearchNet's original protocol: consecutive pools of `pool_size`, the last whole one."""
    from harness.plugins.datasets.common import SplitBuilder

    usable = len(rows) - len(rows) % pool_size
    if usable == 0:
        where = rows[0][2] if rows else None
        raise InputError(
            f"{len(rows)} records make no pool of {pool_size} (--set dataset.pool_size=N)",
            path=where,
        )
    builder = SplitBuilder(reader.options.split)
    for position, (line, row, where) in enumerate(rows[:usable]):
        url, pool = row["url"], str(position // pool_size)
        builder.add_doc(url, reader.code(row, language), where, line)
        builder.add_query(url, reader.query(row), where, line)
        builder.add_relevant(url, url, 1, where, line)
        builder.query_pool[url] = builder.corpus_pool[url] = pool
    return builder.build(source=rows[0][2])


def _split_files(folder: Path, split: str) -> list[Path]:
    """The files of one split of one language: GraphCodeBERT's, the release's, or gzipped."""
    for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
        if (folder / name).is_file():
            return [folder / name]
    return sorted((folder / "final" / "jsonl" / split).glob(f"*_{split}_*.jsonl*"), key=_shard)


def _shard(path: Path) -> tuple[int, str]:
    number = path.name.split("_")[-1].split(".")[0]
    return (int(number) if number.isdigit() else 0, path.name)


def _read(files: list[Path]) -> Rows:
    from harness.jsonl import jsonl_rows

    return [(line, row, path) for path in files for line, row in jsonl_rows(path)]
