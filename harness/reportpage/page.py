"""The report page: one self-contained HTML file (inline CSS, script and SVG; a content
security policy that allows nothing to be fetched), one section per task and dataset:
the tables (harness.reportpage.tables), then the figures (harness.reportpage.svg) of what
harness.reportpage.collect read, then every row's command and config, folded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness import leaderboard_format as fmt
from harness.leaderboard import MEAN, Leaderboard, header_lines
from harness.leaderboard_cost import _table as cost_table
from harness.reportpage import svg
from harness.reportpage.collect import TaskReport, build_reports
from harness.reportpage.tables import leaderboard_table, plain_table

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1340px;padding:0 18px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-top:2px solid #ccc;padding-top:12px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none}th.l,td.l{text-align:left}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tr.control td{color:#666;font-size:12px}tr.reported td{color:#555;font-style:italic}
.figs{display:flex;flex-wrap:wrap;gap:10px}.fig{border:1px solid #eee;background:#fff}
.fig .ft{font-weight:600;font-size:12px}.fig .lab{font-size:11px}
.fig .tick{font-size:10px;fill:#555}
.fig .grid{stroke:#eee}.fig .zero{stroke:#333;stroke-width:1.2}
.fig .mark{stroke:#999;stroke-dasharray:3 3}
.fig .s{fill:#3b6ea8;stroke:#3b6ea8}.fig .w{fill:#b8cde4;stroke:#3b6ea8}
.fig .ci{stroke:#222;stroke-width:1.2;fill:none}.fig .mean{stroke:#d0743c;stroke-width:2.5}
.note{color:#555;font-size:12px;max-width:1100px}pre{background:#f7f7f7;padding:6px;overflow:auto;
font-size:12px;max-height:420px}details{margin:3px 0}summary{cursor:pointer}
nav a{margin-right:12px}.wide{overflow-x:auto;max-width:100%}
"""

SCRIPT = """
(function () {
  function key(row, index) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var v = cell.getAttribute('data-v');
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(th) {
    var table = th.closest('table');
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var descending = th.getAttribute('aria-sort') !== 'descending';
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      h.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    var groups = Array.prototype.slice.call(table.tBodies);
    groups.sort(function (a, b) {
      var x = key(a.rows[0], index), y = key(b.rows[0], index);
      if (x === null || (typeof x === 'number' && isNaN(x))) { return 1; }
      if (y === null || (typeof y === 'number' && isNaN(y))) { return -1; }
      var order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    groups.forEach(function (group) { table.appendChild(group); });
  }
  document.querySelectorAll('table.sortable th').forEach(function (th) {
    th.addEventListener('click', function () { sortBy(th); });
  });
})();
"""


def render_page(reports: Sequence[TaskReport], title: str) -> str:
    """The whole page for `reports` (one per task and dataset)."""
    anchors = [f"{r.board.task}-{r.board.dataset}" for r in reports]
    nav = " ".join(f'<a href="#{escape(a)}">{escape(a)}</a>' for a in anchors)
    body = [_section(r, a) for r, a in zip(reports, anchors, strict=True)]
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
                f"<h1>{escape(title)}</h1><nav>{nav}</nav>",
                *body,
                f"<script>{SCRIPT}</script></body></html>",
            ]
        )
        + "\n"
    )


def _section(report: TaskReport, anchor: str) -> str:
    board = report.board
    out = [f'<section id="{escape(anchor)}"><h2>{escape(fmt._title(board))}</h2>']
    out.append(
        "<ul class=note>"
        + "".join(f"<li>{escape(line)}</li>" for line in header_lines(board.header))
        + "</ul>"
    )
    out.append(leaderboard_table(board, costs=report.per_request))
    out += [f"<p class=note>{escape(p)}</p>" for p in fmt._legend(board)]
    out += _figures(
        "Per partition: the main score with its bootstrap 95% interval",
        [_bars(board, column) for column in board.columns],
    )
    out += _figures(
        f"Paired differences from {report.baseline} (x100, 95% interval; filled: significant "
        f"after Holm over all {len(report.differences)} differences, alpha {board.alpha})",
        [_forest(report, column) for column in board.columns],
    )
    out += _figures(
        "Controls: each system beside the controls it scored on the same examples (gain: the "
        "system minus the control, its paired p Holm-corrected as in the table)",
        [_controls(board, column) for column in board.columns],
    )
    out += _figures(
        "Across seeds: each seed's value and (bar) their mean",
        [_seeds(board, column) for column in board.columns],
    )
    out += _cost_section(report)
    for name, by in report.by_field.items():
        out.append(f"<h3>{escape(board.metric)} by {escape(name)}</h3>")
        out.append(leaderboard_table(by, f"by {name}", report.per_request))
        out += _figures("", [_bars(by, column) for column in by.columns])
    out += _figures(
        "Evolution track: score by commits applied (dashed: first snapshot)",
        [_track(report, key) for key in _track_keys(report)],
    )
    out += _figures(
        "Adapters' pairwise cosine (of their updates)",
        [
            svg.heatmap(
                f"{h.model} {h.strategy}"
                + ("" if h.mean is None else f": mean off-diagonal {h.mean:.3f}"),
                h.names,
                h.matrix,
            )
            for h in report.heatmaps
        ],
    )
    out += _figures("Training curves: loss by step", _curves(report))
    out.append("<h3>Runs: configuration and command</h3>")
    for group in report.groups:
        config = json.dumps(group.config, indent=1, sort_keys=True, default=str)
        out.append(
            f"<details><summary>{escape(group.model)} / {escape(group.strategy)} "
            f"({escape(', '.join(group.partitions))})</summary>"
            f"<pre class=cmd>{escape(chr(10).join(group.commands))}</pre>"
            f"<details><summary>config</summary><pre>{escape(config)}</pre></details></details>"
        )
    out.append("</section>")
    return "\n".join(out)


def _figures(title: str, figures: Sequence[str | None]) -> list[str]:
    shown = [f for f in figures if f]
    if not shown:
        return []
    heading = [f"<h3>{escape(title)}</h3>"] if title else []
    return [*heading, '<div class="figs">', *shown, "</div>"]


def _bars(board: Leaderboard, column: str) -> str | None:
    bars = []
    for row in board.rows:
        cell = row.cells.get(column)
        if cell is None or row.control_of:
            continue
        note = fmt._mark(cell) + ("" if cell.limit is None else f" §{cell.limit}")
        label = f"{row.model} {row.strategy}" + (" (reported)" if row.reported else "")
        bars.append(_interval_bar(label, cell, strong=cell.best, note=note))
    if not bars:
        return None
    title = f"{column}: {board.metric} x100" + (" (macro average)" if column == MEAN else "")
    return svg.interval_bars(title, bars)


def _controls(board: Leaderboard, column: str) -> str | None:
    systems = {(r.model, r.strategy): r for r in board.rows if not r.control_of}
    bars: list[svg.Bar] = []
    for control in (r for r in board.rows if r.control_of and column in r.cells):
        system = systems.get((control.model, control.control_of))
        if system is None or column not in system.cells:
            continue
        if not bars or bars[-1].label.split(":")[0] != f"{system.model} {system.strategy}":
            cell = system.cells[column]
            bars.append(_interval_bar(f"{system.model} {system.strategy}", cell, strong=True))
        cell = control.cells[column]
        p_value = cell.gain_p if cell.gain_p_holm is None else cell.gain_p_holm
        note = "" if cell.gain is None else f" gain {100 * cell.gain:+.2f}, p {p_value:.2g}"
        label = f"{control.model} {control.strategy}"
        bars.append(_interval_bar(label, cell, strong=False, note=note))
    title = f"{column}: {board.metric} x100, systems and their controls"
    return svg.interval_bars(title, bars) if bars else None


def _interval_bar(label: str, cell: Any, *, strong: bool, note: str = "") -> svg.Bar:
    bounds = cell.bounds()
    low, high = (None, None) if bounds is None else (100 * bounds[0], 100 * bounds[1])
    return svg.Bar(label, 100 * cell.value, low, high, strong, note)


def _forest(report: TaskReport, column: str) -> str | None:
    found = [d for d in report.differences if d.column == column]
    if not found:
        return None
    alpha = report.board.alpha
    bars = [
        svg.Bar(
            f"{d.model} {d.strategy}",
            100 * d.difference,
            100 * d.ci_low,
            100 * d.ci_high,
            d.p_holm < alpha,
            f" p_holm {d.p_holm:.2g}" + (" *" if d.p_holm < alpha else ""),
        )
        for d in found
    ]
    return svg.interval_bars(f"{column}: minus {report.baseline}", bars, zero_line=True)


def _seeds(board: Leaderboard, column: str) -> str | None:
    rows = []
    for row in board.rows:
        cell = row.cells.get(column)
        if cell is None or cell.n_seeds < 2:
            continue
        seeds = [
            (s, 100 * r.cells[column].value)
            for s, r in sorted(row.replicates.items())
            if column in r.cells
        ]
        rows.append((f"{row.model} {row.strategy}", seeds, 100 * cell.value))
    return svg.seed_dots(f"{column}: {board.metric} x100 by seed", rows) if rows else None


def _cost_section(report: TaskReport) -> list[str]:
    view = report.costs
    if view is None:
        return []
    headers, body = cost_table(view)
    out = [f"<h3>{escape(view.metric)} against cost per request</h3>"]
    out.append(plain_table(headers, body, n_labels=2))
    points = [
        svg.Point(
            f"{r.model} {r.strategy}",
            r.seconds_per_request,
            100 * r.score,
            100 * r.ci_low,
            100 * r.ci_high,
        )
        for r in view.rows
    ]
    figures = [
        svg.scatter(
            f"{view.metric} x100 against seconds per request",
            points,
            "seconds per request",
            f"{view.metric} x100",
        )
    ]
    figures.append(break_even_figure(view))
    return out + _figures("", figures)


def break_even_lines(view: Any) -> tuple[list[svg.Series], list[tuple[float, str]], float]:
    """Total seconds against requests served, one line per strategy (one-off + n x latency),
    and a mark at each break-even against the baseline; up to twice the largest one."""
    finite = [r.break_even for r in view.rows if r.break_even]
    horizon = float(max(finite) * 2 if finite else 1000)
    series = [
        svg.Series(
            f"{r.model} {r.strategy}",
            [(0.0, r.one_off_s), (horizon, r.one_off_s + horizon * r.seconds_per_request)],
        )
        for r in view.rows
    ]
    marks = [
        (
            float(r.break_even),
            f"{r.model} {r.strategy} breaks even with {r.baseline} after {r.break_even:,} requests",
        )
        for r in view.rows
        if r.break_even
    ]
    return series, marks, horizon


def break_even_figure(view: Any) -> str:
    series, marks, _ = break_even_lines(view)
    return svg.lines(
        "Total seconds by requests served (dotted: break-even)",
        series,
        "requests",
        "seconds",
        marks=marks,
    )


def _track_keys(report: TaskReport) -> list[tuple[str, str]]:
    return sorted({(t.model, t.strategy) for t in report.tracks})


def _track(report: TaskReport, key: tuple[str, str]) -> str:
    series = []
    for t in (t for t in report.tracks if (t.model, t.strategy) == key):
        series.append(
            svg.Series(
                t.partition, [(float(s), 100 * v) for s, v in zip(t.steps, t.score, strict=True)]
            )
        )
        if t.first_snapshot is not None:
            series.append(
                svg.Series(
                    f"{t.partition} (first snapshot)",
                    [(float(s), 100 * v) for s, v in zip(t.steps, t.first_snapshot, strict=True)],
                    dashed=True,
                )
            )
    metric = report.board.metric
    return svg.lines(
        f"{key[0]} {key[1]}: {metric} x100 by commits applied",
        series,
        "commits applied",
        f"{metric} x100",
    )


def _curves(report: TaskReport) -> list[str | None]:
    keys = sorted({(c.model, c.strategy) for c in report.curves})
    return [
        svg.lines(
            f"{model} {strategy}: training loss",
            [
                svg.Series(c.what, c.points)
                for c in report.curves
                if (c.model, c.strategy) == (model, strategy)
            ],
            "step",
            "loss",
        )
        for model, strategy in keys
    ]


def report_html(root: Path, **options: Any) -> str:
    """The page of `root`'s results (`options` as `build_reports` takes them)."""
    return render_page(build_reports(root, **options), f"harness report: {root}")
