"""MTEB result files read as reported leaderboard rows (``harness leaderboard --reported``).

The MTEB sources of ``--reported`` (the leaderboard reads TOML sources itself): an MTEB
task file (``<TaskName>.json``, mteb's ``TaskResult``) or a folder searched for the task
files of the tasks harness.mteb_tasks knows (a results repository, mteb's cache, an
export of ``harness export --format mteb``). docs/mteb.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.compare import Run
from harness.errors import InputError
from harness.leaderboard_rows import Cell, Row
from harness.mteb_tasks import BY_HUB_PATH, TASKS, card_queries, harness_metric, hub_paths


def read_mteb_rows(
    path: Path, task: str, metric: str, columns: Mapping[tuple[str, str], str] | None = None
) -> list[Row]:
    """Reported rows from MTEB task files (`path` is one, or a folder searched for the
    ``<TaskName>.json`` of the tasks harness knows): the rows of `task` that report
    `metric` (a harness name: ``ndcg@10``), one per model and task, a cell per subset
    under its harness partition name: ``columns[(task name, subset)]`` when given (the
    partition of a measured run that read that task's data, see `partition_columns`),
    else the table's. A file that is not a TaskResult is refused."""
    queries = card_queries(task)
    if path.is_file():
        files = [path]
    elif path.is_dir():  # a results repository holds every task's files: read only ours
        files = sorted(p for p in path.rglob("*.json") if p.stem in TASKS)
        if not files:
            raise InputError(
                "holds no MTEB result file of a code retrieval task harness knows "
                f"({', '.join(sorted(TASKS))})",
                path=path,
            )
    else:
        raise InputError("no such file or folder", path=path)
    rows = []
    for file in files:
        document = _read_task_result(file)
        known = TASKS.get(document["task_name"])
        if known is None or known.queries != queries:
            continue
        model, strategy = _model_of(file)
        for split, entries in document["scores"].items():
            cells = {}
            for number, entry in enumerate(entries, 1):
                value = _score(entry, metric, file, split, number)
                if value is not None:
                    subset = entry["hf_subset"]
                    column = (columns or {}).get((known.name, subset), known.partition(subset))
                    cells[column] = Cell(value, published=f"{100 * value:.2f}")
            if cells:
                source = f"MTEB {split} ({file})"
                rows.append(Row(model, strategy, cells, source=source, dataset=known.name))
    return rows


_REQUIRED = ("dataset_revision", "task_name", "scores")


def _read_task_result(file: Path) -> dict[str, Any]:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MTEB result: {exc}", path=file) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=file, line=exc.lineno) from None
    if not isinstance(document, dict) or any(k not in document for k in _REQUIRED):
        raise InputError(
            "not an MTEB TaskResult (needs dataset_revision, task_name and scores)", path=file
        )
    scores = document["scores"]
    if not isinstance(document["task_name"], str) or not isinstance(scores, dict):
        raise InputError("not an MTEB TaskResult: task_name or scores malformed", path=file)
    for split, entries in scores.items():
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InputError(f"scores[{split!r}] must be a list of objects", path=file)
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry.get("hf_subset"), str) or "main_score" not in entry:
                raise InputError(
                    f"scores[{split!r}] entry {number} needs main_score and hf_subset", path=file
                )
    return document


def _score(
    entry: Mapping[str, Any], metric: str, file: Path, split: str, number: int
) -> float | None:
    keys = [k for k in entry if harness_metric(k) == metric]
    if not keys:
        return None
    value = entry[keys[0]]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(
            f"scores[{split!r}] entry {number}: {keys[0]} is not a finite number: {value!r}",
            path=file,
        )
    if not 0.0 <= value <= 1.0:
        raise InputError(
            f"scores[{split!r}] entry {number}: {keys[0]} = {value!r} is not in [0, 1] "
            "(MTEB stores fractions)",
            path=file,
        )
    return float(value)


def _model_of(file: Path) -> tuple[str, str]:
    """(model, strategy) of a task file: from the ``model_meta.json`` beside it, else from
    its ``<model>/<revision>/`` folders; ``<model>+<strategy>`` with ``adapted_from`` is an
    adapted model that harness exported."""
    meta_file = file.parent / "model_meta.json"
    meta: dict[str, Any] = {}
    if meta_file.is_file():
        try:
            loaded = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read model meta: {exc}", path=meta_file) from None
        meta = loaded if isinstance(loaded, dict) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        name = file.parent.parent.name.replace("__", "/") or file.stem
    base = meta.get("adapted_from")
    if isinstance(base, str) and name.startswith(f"{base}+"):
        return base, name[len(base) + 1 :]
    return name, "none"


def partition_columns(runs: Iterable[Run]) -> dict[tuple[str, str], str]:
    """(MTEB task, subset) -> the partition of a measured run that read that task's hub
    data: the column an MTEB number of it belongs in (``cosqa`` read from the hub is
    partition ``python``, MTEB's ``CosQA`` subset ``default``)."""
    columns = {}
    for run in runs:
        for hub_path in hub_paths(run.result.config.get("dataset") or {}):
            known = BY_HUB_PATH.get(hub_path.lower())
            subset = known.subset_of(run.result.partition) if known else None
            if known is not None and subset is not None:
                columns[(known.name, subset)] = run.result.partition
    return columns
