"""`harness run`: one run as before, or a matrix of runs in one process.

A matrix (any list in the options, or ``--config``) is expanded and resolved
(harness.matrix), saved as ``<results>/_experiments/<id>.toml`` (every option
and every cell; ``harness run --config`` that file reruns it), run cell by
cell under one overall progress bar with the work shared (harness.sharing),
and ends with its leaderboard, printed and written beside the experiment as
``<id>.md``. Complete partitions are skipped, so an interrupted matrix
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness import __version__, distributed
from harness.errors import HarnessError
from harness.exp_config import RESOLVED_KEY, Spec, dumps_toml, spec_from_args
from harness.matrix import Cell, CellWork, estimate, expand, in_order, resolve
from harness.progress import console, overall_bar
from harness.results import config_hash
from harness.runner import PartitionOutcome, execute, git_sha, run
from harness.sharing import SharedWork, model_key

EXPERIMENTS = "_experiments"


def run_command(args: argparse.Namespace) -> int:
    """The `run` subcommand."""
    from harness.report import print_summary, summary_json

    spec = spec_from_args(args)
    cells = expand(spec)
    as_json = bool(spec.options.get("json"))
    if len(cells) == 1 and spec.source is None and not spec.options.get("dry_run"):
        outcomes = run(cells[0].request)
        if not distributed.is_main():
            return 0  # under torchrun, rank 0 reports
        if as_json:
            print(json.dumps(summary_json(outcomes), indent=2))
        else:
            print_summary(outcomes)
        return 0
    return run_matrix(spec, cells)


def _key_of(cell: Cell) -> str:
    assert cell.prepared is not None
    return model_key(cell.request, cell.prepared.resolved)


def run_matrix(spec: Spec, cells: list[Cell]) -> int:
    experiment = config_hash(spec.definition())[:12]
    sharing = SharedWork()
    resolve(cells, sharing, experiment=experiment)
    order = in_order(cells, _key_of)
    if not order:
        first = cells[0]
        raise HarnessError(
            f"no cell of the matrix applies; cell 1 ({first.title}): {first.skipped}"
        )
    works = estimate(order, _key_of)
    folder = Path(spec.options["results"]) / EXPERIMENTS
    as_json = bool(spec.options.get("json"))
    if spec.options.get("dry_run"):
        if as_json:
            print(json.dumps(_plan_json(experiment, cells, works), indent=2))
        else:
            print(describe(experiment, spec, cells, works))
        return 0
    main = distributed.is_main()  # under torchrun every rank runs the cells, rank 0 reports
    for line in _notes(cells) if main else []:
        console().print(line, highlight=False)
    saved = folder / f"{experiment}.toml"
    if main:
        _write(saved, experiment_toml(experiment, spec, cells, saved))
    outcomes = _run_cells(experiment, order, works, sharing, as_json or not main)
    if not main:
        return 0
    board = folder / f"{experiment}.md"
    text = leaderboards(spec, order, saved)
    _write(board, text)
    if as_json:
        document = _plan_json(experiment, cells, works)
        for entry in document["cells"]:
            if entry["cell"] in outcomes:
                ran = outcomes[entry["cell"]]
                entry["status"] = "stored" if all(o.reused for o in ran) else "ran"
                entry["results"] = _outcomes_json(ran)
        print(json.dumps({**document, "file": str(saved), "leaderboard": str(board)}, indent=2))
    else:
        print(text, end="")
    console().print(f"experiment: {saved}; leaderboard: {board}", highlight=False)
    return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two runs of one matrix at once
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _notes(cells: Sequence[Cell]) -> list[str]:
    lines = []
    for cell in cells:
        if cell.skipped:
            lines.append(f"cell {cell.number} ({cell.title}) skipped: {cell.skipped}")
        elif cell.same_as is not None:
            lines.append(
                f"cell {cell.number} ({cell.title}, {cell.axes_text}) has the configuration "
                f"of cell {cell.same_as}: run once"
            )
    return lines


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _run_cells(
    experiment: str,
    order: Sequence[Cell],
    works: dict[int, CellWork],
    sharing: SharedWork,
    as_json: bool,
) -> dict[int, list[PartitionOutcome]]:
    """Run the cells in order under one overall bar; the ETA weighs each cell's work."""
    from harness.report import print_summary

    total = sum(works[c.number].cost for c in order)
    uses = Counter(_key_of(c) for c in order)
    outcomes: dict[int, list[PartitionOutcome]] = {}
    started, done = time.perf_counter(), 0
    with overall_bar(f"matrix {experiment}", total=len(order)) as update:
        for index, cell in enumerate(order, 1):
            assert cell.prepared is not None
            console().print(f"cell {index}/{len(order)}: {cell.title}", highlight=False)
            began = time.perf_counter()
            outcomes[cell.number] = execute(cell.prepared, sharing)
            key = _key_of(cell)
            uses[key] -= 1
            if not uses[key]:
                sharing.release(key)
            done += works[cell.number].cost
            elapsed = time.perf_counter() - started
            eta = _duration(elapsed * (total - done) / done) if done and total > done else ""
            update(index, status="cells", eta=f"~{eta}" if eta else "")
            left = f"; {len(order) - index} left" + (f", about {eta}" if eta else "")
            console().print(
                f"cell {index}/{len(order)} done in {_duration(time.perf_counter() - began)}"
                + (left if index < len(order) else ""),
                highlight=False,
            )
            if not as_json:
                print_summary(outcomes[cell.number])
    return outcomes


def leaderboards(spec: Spec, order: Sequence[Cell], saved: Path) -> str:
    """One table per task and dataset of the matrix, from its cells' results only."""
    from harness.compare import Run
    from harness.leaderboard import build
    from harness.leaderboard_format import render
    from harness.results import read_result

    root = Path(spec.options["results"])
    groups: dict[tuple[str, str], list[Run]] = {}
    for cell in order:
        assert cell.prepared is not None
        # a split other than the card's is stored (and selected) apart: ``local@valid``
        stored = cell.prepared.config.get("stored_dataset", cell.prepared.resolved.dataset_name)
        key = (cell.prepared.resolved.card.name, stored)
        for _, path, _ in cell.prepared.partitions:
            if path.exists():
                groups.setdefault(key, []).append(Run(read_result(path), path))
    texts = []
    for (task, dataset), runs in groups.items():
        board = build(root, task, dataset=dataset, runs=runs)
        texts.append(render(board, "markdown", commands=[f"harness run --config {saved}"]))
    return "\n".join(texts)


def experiment_toml(experiment: str, spec: Spec, cells: Sequence[Cell], saved: Path) -> str:
    """The experiment as a config file, with what it resolved to under ``[resolved]``."""
    cell_rows, skipped, merged = [], [], []
    for cell in cells:
        r = cell.request
        names = {"cell": cell.number, "model": r.model, "strategy": r.strategy, "task": r.task}
        if cell.skipped:
            skipped.append({**names, "dataset": r.dataset, "settings": cell.axes,
                            "reason": cell.skipped})  # fmt: skip
        elif cell.same_as is not None:
            merged.append({**names, "settings": cell.axes, "same_as": cell.same_as})
        elif cell.prepared is not None:
            cell_rows.append({
                **names, "dataset": cell.prepared.resolved.dataset_name, "label": r.label,
                "settings": cell.axes, "config_hash": config_hash(cell.prepared.config),
                "results": [str(path) for _, path, _ in cell.prepared.partitions],
            })  # fmt: skip
    resolved = {
        "id": experiment,
        "rerun": f"harness run --config {saved}",
        "harness": __version__,
        "git_sha": git_sha(),
        "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cells": cell_rows,
        "skipped": skipped,
        "same_configuration": merged,
    }
    header = (
        f"# harness experiment {experiment}, written by `harness run`.\n"
        f"# Rerun (complete results are reused): harness run --config {saved}\n"
        f"# [{RESOLVED_KEY}] records what it resolved to; it is ignored when read back.\n\n"
    )
    return header + dumps_toml({**spec.definition(), RESOLVED_KEY: resolved})


def _work_text(work: CellWork) -> str:
    if work.complete:
        return "-"
    parts = [f"encode {work.texts:,} texts"] if work.texts or not work.examples else []
    if work.examples:
        parts.append(f"score {work.examples:,} examples")
    if work.steps:
        parts.append(f"train {work.steps:,} steps")
    return ", ".join(parts)


def _adapters_text(work: CellWork) -> str:
    if work.complete or not work.adapters:
        return "-"
    cached = sum(a.cached for a in work.adapters)
    resumed = sum(bool(a.steps_done) and not a.cached for a in work.adapters)
    text = f"{cached}/{len(work.adapters)} cached"
    return text + (f", {resumed} checkpointed" if resumed else "")


def describe(experiment: str, spec: Spec, cells: Sequence[Cell], works: dict[int, CellWork]) -> str:
    """The `--dry-run` listing: cells, what is cached, the work left."""
    rows = []
    for cell in cells:
        if not cell.runnable:
            continue
        work, r = works[cell.number], cell.request
        assert cell.prepared is not None
        rows.append([
            cell.number, r.task, cell.prepared.resolved.dataset_name, r.model, r.strategy,
            r.label or "-", f"{work.stored}/{work.partitions} stored", _adapters_text(work),
            _work_text(work),
        ])  # fmt: skip
    headers = ["cell", "task", "dataset", "model", "strategy", "variant", "results", "adapters"]
    skipped = sum(bool(c.skipped) for c in cells)
    same = sum(c.same_as is not None for c in cells)
    how = {"cross": "crossed", "zip": "zipped"}[spec.sweep]
    lines = [
        f"experiment {experiment}: {len(cells)} cells (settings {how}): {len(rows)} "
        f"distinct, {skipped} skipped, {same} the same as another",
        tabulate(rows, [*headers, "work left"], tablefmt="simple"),
        *_notes(cells),
    ]
    runnable = [works[c.number] for c in cells if c.runnable]
    texts, steps = sum(w.texts for w in runnable), sum(w.steps for w in runnable)
    examples = sum(w.examples for w in runnable)
    complete = sum(w.complete for w in runnable)
    scored = f"score {examples:,} examples, " if examples else ""
    lines.append(
        f"work left: encode {texts:,} texts, {scored}train {steps:,} steps; "
        f"{complete} of {len(runnable)} cells complete"
    )
    lines.append(f"--dry-run: {_loaded_text(cells)}; built no model, trained and scored nothing")
    return "\n".join(lines) + "\n"


def _loaded_text(cells: Sequence[Cell]) -> str:
    """What planning the cells loaded: their datasets (mined and cached the first time),
    each with its cache folder where its meta names one."""
    found = []
    for cell in cells:
        if cell.prepared is not None:
            cache = dict(getattr(cell.prepared.dataset, "meta", {})).get("cache_dir")
            task, name = cell.prepared.resolved.card.name, cell.prepared.resolved.dataset_name
            found.append(f"{task}/{name}" + (f" (cache {cache})" if cache else ""))
    found = list(dict.fromkeys(found))
    return f"loaded the dataset{'s' if len(found) > 1 else ''} {', '.join(found)} to plan"


def _plan_json(
    experiment: str, cells: Sequence[Cell], works: dict[int, CellWork]
) -> dict[str, Any]:
    entries = []
    for cell in cells:
        r = cell.request
        entry: dict[str, Any] = {"cell": cell.number, "model": r.model, "strategy": r.strategy,
                                 "task": r.task, "settings": cell.axes}  # fmt: skip
        if cell.skipped:
            entry.update(status="skipped", reason=cell.skipped)
        elif cell.same_as is not None:
            entry.update(status="same_as", same_as=cell.same_as)
        else:
            work = works[cell.number]
            assert cell.prepared is not None
            entry.update(
                status="complete" if work.complete else "to_run",
                dataset=cell.prepared.resolved.dataset_name,
                label=r.label,
                stored=work.stored,
                n_partitions=work.partitions,
                texts_to_encode=work.texts,
                examples_to_score=work.examples,
                training_steps=work.steps,
                adapters=[vars(a) for a in work.adapters],
            )
        entries.append(entry)
    return {"experiment": experiment, "cells": entries}


def _outcomes_json(outcomes: Sequence[PartitionOutcome]) -> list[dict[str, Any]]:
    from harness.report import summary_json

    return summary_json(outcomes)
