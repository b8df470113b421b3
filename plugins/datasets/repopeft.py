"""Plugin ``repopeft``: RepoPeftBench (Code2LoRA) assertion completion from its parquet files.

``--data-dir`` is a folder (searched recursively) or one ``.parquet`` file.
Files are told apart by their columns:

- examples: ``repo_id`` (string), ``commit_index`` (integer, may be null),
  ``prefix``, ``target``, ``cross_repo_split`` (``train | cr_val | cr_test |
  ood_test``), ``in_repo_split`` (``train | val | test``), ``test_file``
  (strings); extra columns are ignored;
- commits (optional): ``repo_id``, ``commit_index``, ``repo_state_embedding``
  and ``diff_embedding`` (lists of numbers, may be null).

Checked before anything runs, each problem on one line naming the file and the
column or row (1-based, across the file): a missing column or one of the wrong
type, a null where a value is needed, an unknown split label, an empty
target, a repository in two cross-repo splits, a commit given twice, an example
id given twice (two files of one name holding one repository), and no
examples file at all. An example's id is ``<repo_id>:<file name>:<row>``;
each commit lists the examples whose ``commit_index`` is its own.
``harness data mine-rc`` writes an examples file in this layout.

``--split``, ``--languages`` (repositories) and ``--limit`` work as for the
``local`` dataset of task ``rc`` (``completion_common.completion_partitions``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import Commit, CompletionDataset, CompletionExample, DatasetOptions
from harness.errors import HarnessError, InputError
from harness.hookspecs import hookimpl
from harness.plugins.datasets.completion_common import (
    SPLIT_LABELS,
    check_split,
    partitioned,
    shared_statements,
)
from harness.tree import is_regular
from harness.tree import kind_of as file_kind

NAME = "repopeft"
EXAMPLE_COLUMNS = {
    "repo_id": "string",
    "commit_index": "integer",
    "prefix": "string",
    "target": "string",
    "cross_repo_split": "string",
    "in_repo_split": "string",
    "test_file": "string",
}
COMMIT_COLUMNS = {
    "repo_id": "string",
    "commit_index": "integer",
    "repo_state_embedding": "numbers",
    "diff_embedding": "numbers",
}
LABELS = SPLIT_LABELS
NULLABLE = frozenset({"commit_index", "repo_state_embedding", "diff_embedding"})
GET_DATA = (
    "RepoPeftBench (the benchmark of the Code2LoRA paper, arXiv 2606.06492) is read from "
    "local parquet files only: download them and pass their folder with --data-dir"
)


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        NAME,
        "harness.plugins.datasets.repopeft:load_repopeft",
        "RepoPeftBench (Code2LoRA): test-assertion completion in Python repositories, parquet",
        options=(),
        tasks=["rc"],
    )


def load_repopeft(options: DatasetOptions) -> CompletionDataset:
    """The RepoPeftBench split `options.split` from the parquet files in ``options.data_dir``."""
    from harness.plugins.datasets.common import check_options

    check_options(options.extra, (), NAME)
    check_split(options.split, f"dataset {NAME}")
    if options.data_dir is None:
        raise HarnessError(f"dataset {NAME}: no --data-dir; {GET_DATA}")
    files = parquet_files(Path(options.data_dir))
    by_file: list[tuple[Path, list[CompletionExample]]] = []
    commits: dict[str, list[Commit]] = {}
    first_at: dict[object, tuple[Path, int]] = {}  # an example id or a commit: its file, row
    for path in files:
        if kind_of(path) == "examples":
            by_file.append((path, read_examples(path)))
            for row, example in enumerate(by_file[-1][1], start=1):
                _once(first_at, example.id, f"example id {example.id!r}", path, row)
        else:
            for row, commit in enumerate(read_commits(path), start=1):
                key = (commit.repo, commit.index)
                _once(first_at, key, f"commit {commit.index} of {commit.repo!r}", path, row)
                commits.setdefault(commit.repo, []).append(commit)
    if not by_file:
        raise InputError(
            f"no examples parquet (columns {', '.join(EXAMPLE_COLUMNS)}); {GET_DATA}",
            path=options.data_dir,
        )
    _check_repos(by_file)
    examples = [example for _, file_examples in by_file for example in file_examples]
    commits = _with_examples(commits, examples)
    meta = {
        "source": str(Path(options.data_dir).resolve()),
        "files": [str(path) for path in files],
        "protocol": "RepoPeftBench: assertion completion, cross-repo and in-repo splits",
        "n_examples": len(examples),
        # its own splits are kept as published; this counts their in-repo statement leaks
        "in_repo_shared_statements": shared_statements(examples),
        # it ships no repository source, so where an answer can be found is not known
        "answer_source": "unknown: RepoPeftBench ships no repository source to class by",
        "eval_split": options.split,
        "limit": options.limit,
    }
    return partitioned(
        NAME,
        examples,
        options.split,
        commits=commits,
        meta=meta,
        repos=options.languages,
        limit=options.limit,
        what=f"dataset {NAME}",
        where=f"{len(examples)} examples in {', '.join(p.name for p, _ in by_file)}",
    )


def parquet_files(data_dir: Path) -> list[Path]:
    """The parquet files of `data_dir` (a folder, searched recursively, or one file)."""
    if data_dir.is_file():
        return [data_dir]
    if not data_dir.is_dir():
        raise InputError(f"no such folder; {GET_DATA}", path=data_dir)
    files = sorted(data_dir.rglob("*.parquet"))
    if not files:
        raise InputError(f"no .parquet file here; {GET_DATA}", path=data_dir)
    for path in files:  # a FIFO named *.parquet would block the reader forever
        if not path.is_dir() and not is_regular(path):
            what = file_kind(path.stat().st_mode) if path.exists() else "a broken link"
            raise InputError(f"not a regular file: {what}", path=path)
    return files


def kind_of(path: Path) -> str:
    """``"examples"`` or ``"commits"`` by the file's columns; InputError for anything else."""
    columns = set(_schema(path).names)
    if columns & {"repo_state_embedding", "diff_embedding"}:
        return "commits"
    if columns & {"prefix", "target"}:
        return "examples"
    raise InputError(
        f"neither an examples file (columns {', '.join(EXAMPLE_COLUMNS)}) nor a commits file "
        f"(columns {', '.join(COMMIT_COLUMNS)}); it has {', '.join(sorted(columns)) or 'none'}",
        path=path,
    )


def read_examples(path: Path) -> list[CompletionExample]:
    """The examples of one examples file, checked row by row."""
    values = _columns(path, EXAMPLE_COLUMNS, "an examples file")
    examples = []
    for at in range(len(values["repo_id"])):
        row = {name: column[at] for name, column in values.items()}
        where = f"row {at + 1}"
        for name, labels in LABELS.items():
            if row[name] not in labels:
                raise InputError(
                    f"{where}: {name} {row[name]!r} is not one of {', '.join(labels)}", path=path
                )
        if not row["target"].strip():
            raise InputError(f"{where}: empty target", path=path)
        examples.append(
            CompletionExample(
                id=f"{row['repo_id']}:{path.name}:{at + 1}",
                repo=row["repo_id"],
                prefix=row["prefix"],
                target=row["target"],
                test_file=row["test_file"],
                commit_index=row["commit_index"],
                cross_repo_split=row["cross_repo_split"],
                in_repo_split=row["in_repo_split"],
            )
        )
    return examples


def read_commits(path: Path) -> list[Commit]:
    """The commits of one commits file, checked; ``example_ids`` are filled in later."""
    values = _columns(path, COMMIT_COLUMNS, "a commits file")
    first_at: dict[tuple[str, int], int] = {}
    commits = []
    for at in range(len(values["repo_id"])):
        repo, index = values["repo_id"][at], values["commit_index"][at]
        if index is None:
            raise InputError(f"row {at + 1}: commit_index is null", path=path)
        if (repo, index) in first_at:
            raise InputError(
                f"row {at + 1}: commit {index} of {repo!r} again (first at row "
                f"{first_at[(repo, index)]})",
                path=path,
            )
        first_at[(repo, index)] = at + 1
        state, diff = values["repo_state_embedding"][at], values["diff_embedding"][at]
        commits.append(
            Commit(
                repo,
                index,
                repo_state_embedding=None if state is None else tuple(map(float, state)),
                diff_embedding=None if diff is None else tuple(map(float, diff)),
            )
        )
    return commits


def _schema(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a bad file
        raise InputError(f"not a readable parquet file: {exc}", path=path) from None


def _columns(path: Path, wanted: dict[str, str], kind: str) -> dict[str, list[Any]]:
    """The `wanted` columns of `path` as Python lists, their types and nulls checked."""
    import pyarrow.parquet as pq

    schema = _schema(path)
    for name, expected in wanted.items():
        if name not in schema.names:
            raise InputError(
                f"missing column {name!r} ({kind} has: {', '.join(wanted)})", path=path
            )
        found = schema.field(name).type
        if not _is_type(found, expected):
            raise InputError(f"column {name!r} must hold {expected}, not {found}", path=path)
    try:
        table = pq.read_table(path, columns=list(wanted))
    except Exception as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    values = {name: _pylist(table.column(name), name, path) for name in wanted}
    for name, column in values.items():
        if name in NULLABLE:
            continue
        for at, value in enumerate(column):
            if value is None:
                raise InputError(f"row {at + 1}: {name} is null", path=path)
    return values


def _pylist(column: Any, name: str, path: Path) -> list[Any]:
    """`column` as Python values; a string that is not UTF-8 (parquet does not check) names
    its row instead of a UnicodeDecodeError from pyarrow."""
    try:
        return list(column.to_pylist())
    except UnicodeDecodeError:
        for at in range(len(column)):
            try:
                column[at].as_py()
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"row {at + 1}: {name} is not UTF-8 text ({exc.reason})", path=path
                ) from None
        raise


def _is_type(found: Any, expected: str) -> bool:
    import pyarrow as pa

    types = pa.types
    if expected == "string":
        return bool(types.is_string(found) or types.is_large_string(found))
    if expected == "integer":
        return bool(types.is_integer(found))
    lists = types.is_list(found) or types.is_large_list(found) or types.is_fixed_size_list(found)
    if not lists:
        return False
    value = found.value_type
    return bool(types.is_floating(value) or types.is_integer(value))


def _check_repos(by_file: list[tuple[Path, list[CompletionExample]]]) -> None:
    """A repository is in one cross-repo split: it is unseen in training, or not."""
    first: dict[str, tuple[str, Path, int]] = {}
    for path, examples in by_file:
        for row, example in enumerate(examples, start=1):
            label = example.cross_repo_split
            seen, seen_path, seen_row = first.setdefault(example.repo, (label, path, row))
            if seen != label:
                raise InputError(
                    f"row {row}: repository {example.repo!r} is in cross_repo_split {label!r} "
                    f"here and {seen!r} at {seen_path.name} row {seen_row}",
                    path=path,
                )


def _once(
    first_at: dict[object, tuple[Path, int]], key: object, what: str, path: Path, row: int
) -> None:
    """Refuse a second example with one id (two files of one name, e.g. ``a/examples.parquet``
    and ``b/examples.parquet``, give a repository's rows the same ids) or a commit given by
    two files: per-example scores and ``compare`` need each id once."""
    if key in first_at:
        seen_path, seen_row = first_at[key]
        raise InputError(
            f"row {row}: {what} again (first at {seen_path} row {seen_row})", path=path
        )
    first_at[key] = (path, row)


def _with_examples(
    commits: dict[str, list[Commit]], examples: list[CompletionExample]
) -> dict[str, list[Commit]]:
    """Each commit with the ids of the examples it introduced, in commit order."""
    from dataclasses import replace

    introduced: dict[tuple[str, int], list[str]] = {}
    for example in examples:
        if example.commit_index is not None:
            introduced.setdefault((example.repo, example.commit_index), []).append(example.id)
    return {
        repo: [
            replace(c, example_ids=tuple(introduced.get((repo, c.index), [])))
            for c in sorted(track, key=lambda c: c.index)
        ]
        for repo, track in commits.items()
    }
