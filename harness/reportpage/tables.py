"""The page's tables: the leaderboard as the markdown prints its cells (harness.leaderboard_format
builds the text, with its bold and marks), each cell carrying its stored value in ``data-v``
(full precision), which the page's sorting script and the tests read; and plain tables of
texts (the cost view), sortable by the number a cell starts with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from harness import leaderboard_format as fmt
from harness.leaderboard import Leaderboard

NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def leaderboard_table(
    board: Leaderboard, name: str = "board", costs: fmt.Costs | None = None
) -> str:
    """The board as a sortable table: the markdown's cell texts, the values in ``data-v``.
    A system's control rows stay beneath it when the table is sorted (one tbody each)."""
    headers = fmt._headers(board)
    n_labels = len(headers) - len(board.columns)
    headers += fmt.COST_HEADERS if costs else []
    texts = fmt._table(board, "{}", {m: m for m in (fmt.NOT_DIFFERENT, fmt.UNTESTED)}, " ± ")
    head = "".join(
        f'<th class="{"l" if i < n_labels else "n"}">{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    groups: list[list[str]] = []
    for row, cells in zip(board.rows, texts, strict=True):
        kind = "control" if row.control_of else "reported" if row.reported else "measured"
        tds = [f'<td class="l">{escape(text)}</td>' for text in cells[:n_labels]]
        for column, text in zip(board.columns, cells[n_labels:], strict=True):
            cell = row.cells.get(column)
            value = "" if cell is None else f' data-v="{cell.value!r}"'
            shown = f"<strong>{escape(text)}</strong>" if cell and cell.best else escape(text)
            tds.append(f'<td data-col="{escape(column)}"{value}>{shown}</td>')
        for column, text in zip(fmt.COST_HEADERS, fmt._cost_cells(row, costs or {}), strict=False):
            value = f' data-v="{float(text)!r}"' if text != "-" else ""
            tds.append(f'<td data-col="{escape(column)}"{value}>{escape(text)}</td>')
        line = f'<tr class="{kind}">{"".join(tds)}</tr>'
        if row.control_of and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    bodies = "".join(f"<tbody>{''.join(g)}</tbody>" for g in groups)
    return (
        f'<div class="wide"><table class="sortable board" data-table="{escape(name)}">'
        f"<thead><tr>{head}</tr></thead>"
        f"{bodies}</table></div>"
    )


def plain_table(headers: Sequence[str], body: Sequence[Sequence[str]], n_labels: int) -> str:
    """A sortable table of texts; a cell that starts with a number sorts by it."""

    def cell(i: int, text: str, tag: str) -> str:
        side = "l" if i < n_labels else "n"
        number = NUMBER.match(text.replace(",", "")) if tag == "td" and i >= n_labels else None
        value = f' data-v="{float(number.group())!r}"' if number else ""
        return f'<{tag} class="{side}"{value}>{escape(text)}</{tag}>'

    head = "".join(cell(i, h, "th") for i, h in enumerate(headers))
    rows = "".join(
        "<tbody><tr>" + "".join(cell(i, c, "td") for i, c in enumerate(row)) + "</tr></tbody>"
        for row in body
    )
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead>{rows}</table>'
    return f'<div class="wide">{table}</div>'
