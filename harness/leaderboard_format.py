"""Leaderboards as text: markdown (default), latex, csv (one line per cell) and json.

Values are printed x100 as in the papers: ``value ± half-interval``; the best
measured cell of a column in bold, † on cells not significantly different
from it, ‡ on cells not over the same examples (not tested), §N on cells of a run
limited to its first N examples per partition (``--limit N``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

from tabulate import tabulate

from harness.leaderboard import Leaderboard, header_lines
from harness.leaderboard_rows import Cell, Row

FORMATS = ("markdown", "csv", "json", "latex")
NOT_DIFFERENT, UNTESTED, LIMITED = "†", "‡", "§"
Costs = Mapping[tuple[str, str], tuple[float, float]]
"""(model, strategy) -> (prompt tokens per request, seconds per request)."""
COST_HEADERS = ["prompt tokens / request", "s / request"]


def render(
    board: Leaderboard,
    fmt: str = "markdown",
    *,
    commands: Sequence[str] = (),
    costs: Costs | None = None,
) -> str:
    """The leaderboard in `fmt`; `commands` (markdown and latex) say how to regenerate it;
    `costs` (completion results, harness.leaderboard_cost) add the cost per request beside
    the scores (markdown, latex, json)."""
    if fmt == "markdown":
        return _markdown(board, commands, costs or {})
    if fmt == "latex":
        return _latex(board, commands, costs or {})
    if fmt == "csv":
        return _csv(board)
    if fmt == "json":
        return _json(board, costs or {})
    raise ValueError(f"unknown format {fmt!r}")


def _cost_cells(row: Row, costs: Costs) -> list[str]:
    if not costs:
        return []
    found = None if row.reported else costs.get((row.model, row.strategy))
    return ["-", "-"] if found is None else [f"{found[0]:.1f}", f"{found[1]:.4f}"]


def _number(cell: Cell) -> str:
    if cell.half is None:  # reported: as published, no interval
        return cell.published or f"{100 * cell.value:.2f}"
    text = f"{100 * cell.value:.2f} ± {100 * cell.half:.2f}"
    if cell.spread is not None:  # a system's replicates: the spread over its seeds
        text += f" (sd {100 * cell.spread:.2f})"
    if cell.gain is not None:  # a control: the system's gain over it
        p_value = cell.gain_p if cell.gain_p_holm is None else cell.gain_p_holm
        text += f" (gain {100 * cell.gain:+.2f}, p {p_value:.2g})"
    return text


def _mark(cell: Cell) -> str:
    return NOT_DIFFERENT if cell.same_as_best else UNTESTED if cell.untested else ""


def _limit_mark(cell: Cell, mark: dict[str, str]) -> str:
    """``§N`` on a cell scored under ``--limit N``: never unmarked beside full runs."""
    return "" if cell.limit is None else f" {mark.get(LIMITED, LIMITED)}{cell.limit}"


def _labels(board: Leaderboard, row: Row) -> list[str]:
    labels = [row.model, row.strategy]
    if any(r.reported for r in board.rows):
        labels.append(
            f"reported: {row.source.split(' (')[0]}, {row.dataset}" if row.reported else "measured"
        )
    return labels


def _title(board: Leaderboard) -> str:
    order = "higher is better" if board.higher_is_better else "lower is better"
    return (
        f"{board.task} on {board.dataset}: {board.metric} "
        f"(x100, ± half the bootstrap 95% interval; {order})"
    )


def _header_lines(board: Leaderboard) -> list[str]:
    return header_lines(board.header)


def _legend(board: Leaderboard) -> list[str]:
    lines = [
        f"Bold: best measured value of the column. {NOT_DIFFERENT}: not significantly different "
        "from it (paired sign-flip test on the same examples, the mean column as a macro "
        f"average; Holm-corrected within the column, alpha {board.alpha}). {UNTESTED}: not "
        "scored on the same examples as the best, so not tested."
    ]
    if any(r.control_of for r in board.rows):
        lines.append(
            "Rows `STRATEGY: CONTROL` are that strategy's controls, scored on the same "
            "examples (e.g. shuffled: another repository's adapter; mean_adapter: the mean of "
            "the training repositories' adapters, the scored one left out): no bold or marks; "
            "gain = the strategy minus the control, with its paired sign-flip p, "
            "Holm-corrected over the control cells of the column."
        )
        lines += board.notes
    if any(c.spread is not None for r in board.rows for c in r.cells.values()):
        lines.append(
            "Rows `STRATEGY seeds=S,...` are a system's replicates (runs that differ only in "
            "the seed: split, training, bootstrap): the mean over seeds ± the mean half "
            "bootstrap interval, (sd: the standard deviation over seeds); a mark between two "
            "such rows comes from the t test over seeds and examples, paired seed by seed "
            "(docs/statistics.md)."
        )
    limits = sorted({c.limit for r in board.rows for c in r.cells.values() if c.limit})
    if limits:
        lines.append(
            f"{LIMITED}N: limited to the first N queries (examples) of each partition "
            f"(`--limit N`, here {', '.join(map(str, limits))}); a retrieval query still ranks "
            "among the whole corpus, but the mean is over fewer examples: not comparable with "
            "unmarked cells or published numbers, and beside them never bold or tested."
        )
    sources = sorted({(r.source, r.dataset) for r in board.rows if r.reported})
    if sources:
        lines.append(
            "Reported rows are published numbers on their own datasets and protocols, "
            "not measured here and never tested: "
            + "; ".join(f"{source} on {dataset}" for source, dataset in sources)
            + "."
        )
    return lines


def _table(board: Leaderboard, bold: str, mark: dict[str, str], plus: str) -> list[list[str]]:
    table = []
    for row in board.rows:
        cells = []
        for column in board.columns:
            cell = row.cells.get(column)
            if cell is None:
                cells.append("-")
                continue
            text = _number(cell).replace(" ± ", plus) + mark.get(_mark(cell), "")
            cells.append((bold.format(text) if cell.best else text) + _limit_mark(cell, mark))
        table.append(_labels(board, row) + cells)
    return table


def _headers(board: Leaderboard) -> list[str]:
    extra = ["source"] if any(r.reported for r in board.rows) else []
    return ["model", "strategy", *extra, *board.columns]


def _markdown(board: Leaderboard, commands: Sequence[str], costs: Costs) -> str:
    table = _table(board, "**{}**", {m: m for m in (NOT_DIFFERENT, UNTESTED)}, " ± ")
    table = [c + _cost_cells(r, costs) for c, r in zip(table, board.rows, strict=True)]
    headers = _headers(board) + (COST_HEADERS if costs else [])
    n_labels = len(_headers(board)) - len(board.columns)
    align = ["left"] * n_labels + ["right"] * (len(headers) - n_labels)
    lines = [f"## {_title(board)}", ""]
    lines += [f"- {line}" for line in _header_lines(board)]
    as_is = list(range(len(_headers(board)), len(headers)))  # cost cells print as they are
    lines += ["", tabulate(table, headers, tablefmt="pipe", colalign=align,
                           disable_numparse=as_is), ""]  # fmt: skip
    for paragraph in _legend(board):
        lines += [paragraph, ""]
    if commands:
        lines += ["Regenerate (the runs as read back from their configs, then the table):", ""]
        lines += ["```", *commands, "```"]
    else:
        lines.pop()
    return "\n".join(lines) + "\n"


def _latex(board: Leaderboard, commands: Sequence[str], costs: Costs) -> str:
    marks = {NOT_DIFFERENT: r"$^\dagger$", UNTESTED: r"$^\ddagger$", LIMITED: r"\S"}
    n_labels = len(_headers(board)) - len(board.columns)
    plain = _table(board, r"\textbf{{{}}}", marks, r" $\pm$ ")
    # the labels are escaped, the cells (already LaTeX) are not
    table = [[_tex(c) if i < n_labels else c for i, c in enumerate(row)] + _cost_cells(r, costs)
             for row, r in zip(plain, board.rows, strict=True)]  # fmt: skip
    headers = [_tex(h) for h in _headers(board) + (COST_HEADERS if costs else [])]
    align = ["left"] * n_labels + ["right"] * (len(headers) - n_labels)
    comments = [f"% {_title(board)}", *(f"% {line}" for line in _header_lines(board))]
    comments += [f"% {line}" for line in _legend(board)]
    comments += [f"% regenerate: {command}" for command in commands]
    as_is = list(range(len(_headers(board)), len(headers)))
    body = tabulate(table, headers, tablefmt="latex_raw", colalign=align, disable_numparse=as_is)
    return "\n".join(comments) + "\n" + body + "\n"


def _tex(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def _csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["task", "dataset", "metric", "model", "strategy", "source", "column",
                     "value_x100", "half_x100", "best", "same_as_best", "p_holm", "control_of",
                     "gain_x100", "gain_p", "gain_p_holm", "limit", "seeds",
                     "seed_sd_x100"])  # fmt: skip
    for row in board.rows:
        for column in board.columns:
            cell = row.cells.get(column)
            if cell is None:
                continue
            writer.writerow([
                board.task, row.dataset or board.dataset, board.metric, row.model, row.strategy,
                row.source or "measured", column, f"{100 * cell.value:.4f}",
                "" if cell.half is None else f"{100 * cell.half:.4f}", int(cell.best),
                int(cell.same_as_best), "" if cell.p_holm is None else f"{cell.p_holm:.6g}",
                row.control_of, "" if cell.gain is None else f"{100 * cell.gain:.4f}",
                "" if cell.gain_p is None else f"{cell.gain_p:.6g}",
                "" if cell.gain_p_holm is None else f"{cell.gain_p_holm:.6g}",
                "" if cell.limit is None else cell.limit,
                cell.n_seeds, "" if cell.spread is None else f"{100 * cell.spread:.4f}",
            ])  # fmt: skip
    return out.getvalue()


def _json(board: Leaderboard, costs: Costs) -> str:
    rows = [
        {
            **_json_cost(row, costs),
            "model": row.model,
            "strategy": row.strategy,
            "source": row.source or "measured",
            "dataset": row.dataset or board.dataset,
            **({"control_of": row.control_of} if row.control_of else {}),
            "cells": {
                column: {
                    "value": cell.value,
                    "half_interval": cell.half,
                    "best": cell.best,
                    "same_as_best": cell.same_as_best,
                    "untested": cell.untested,
                    "p_holm": cell.p_holm,
                    "seeds": cell.n_seeds,
                    "seed_sd": cell.spread,
                    "limit": cell.limit,
                    **(
                        {"gain": cell.gain, "gain_p": cell.gain_p, "gain_p_holm": cell.gain_p_holm}
                        if row.control_of
                        else {}
                    ),
                }
                for column, cell in row.cells.items()
            },
        }
        for row in board.rows
    ]
    document = {
        "task": board.task,
        "dataset": board.dataset,
        "metric": board.metric,
        "higher_is_better": board.higher_is_better,
        "alpha": board.alpha,
        "header": board.header,
        "columns": board.columns,
        "rows": rows,
        "notes": board.notes,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _json_cost(row: Row, costs: Costs) -> dict[str, object]:
    found = None if row.reported else costs.get((row.model, row.strategy))
    if found is None:
        return {}
    return {"cost": {"prompt_tokens_per_request": found[0], "seconds_per_request": found[1]}}
