"""`harness plot`: one of the report's figures for a paper, drawn with matplotlib (the
optional extra ``plot``) from the same data as the page (harness.reportpage.collect).

Kinds: ``bars`` (the main score per column with its bootstrap interval), ``forest`` (paired
differences from the baseline, Holm-marked), ``cost`` (score against seconds per request,
and total seconds by requests served with the break-even points), ``track`` (the
evolution track by commits applied), ``loss`` (training curves). SVG, PNG (300 dpi) or PDF,
by the output's suffix; the files carry no date, so one store gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.leaderboard import MEAN
from harness.reportpage.collect import TaskReport, build_reports
from harness.reportpage.page import break_even_lines
from harness.reportpage.svg import PALETTE

COLORS = PALETTE


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise HarnessError(
            "harness plot needs matplotlib: pip install 'harness[plot]' (harness report, the "
            "HTML page, does not)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8,
            "axes.titlesize": 9,
            "svg.hashsalt": "harness",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def has_data(report: TaskReport, kind: str) -> bool:
    """Whether `report` has anything to draw for `kind`."""
    return {
        "bars": bool(report.measured),
        "forest": bool(report.differences),
        "cost": report.costs is not None,
        "track": bool(report.tracks),
        "loss": bool(report.curves),
    }[kind]


def plot_figure(
    root: Path, kind: str, output: Path, *, column: str | None = None, **options: Any
) -> None:
    """Write one figure of `kind` for the one task and dataset of `root` that has its data
    (or the one `task` and `dataset` in `options` name, with the other options of
    harness.reportpage.collect.build_reports); written whole or not at all."""
    plt = _pyplot()
    reports = build_reports(root, **options)
    found = [r for r in reports if has_data(r, kind)]
    names = [f"{r.board.task} on {r.board.dataset}" for r in found]
    if not found:
        raise HarnessError(
            f"{root}: no {kind} data (in "
            f"{', '.join(f'{r.board.task}/{r.board.dataset}' for r in reports)})"
        )
    if len(found) > 1:
        raise HarnessError(
            f"{root}: several tasks have {kind} data ({'; '.join(names)}); "
            "choose one with --task and --dataset"
        )
    report = found[0]
    if column is not None and column not in report.board.columns:
        raise HarnessError(
            f"--column {column!r}: not a column of {names[0]} ({', '.join(report.board.columns)})"
        )
    draw: dict[str, Callable[..., Any]] = {
        "bars": _bars,
        "forest": _forest,
        "cost": _cost,
        "track": _track,
        "loss": _loss,
    }
    figure = draw[kind](plt, report, column)
    _save(figure, output)
    plt.close(figure)


def _save(figure: Any, output: Path) -> None:
    """The figure in the format its suffix names, written whole (harness.atomic)."""
    import io

    from harness import atomic

    kind = output.suffix.lower()[1:]
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind, dpi=300, bbox_inches="tight", metadata=metadata.get(kind))
    try:
        atomic.write(output, buffer.getvalue())
    except OSError as exc:
        raise HarnessError(f"-o {output}: cannot write: {exc.strerror or exc}") from None


def _titled(figure: Any, title: str) -> Any:
    figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    return figure


def _columns(report: TaskReport, column: str | None) -> list[str]:
    return [column] if column is not None else list(report.board.columns)


def _panels(plt: Any, count: int, rows_each: int) -> tuple[Any, list[Any]]:
    wide = min(count, 3)
    tall = -(-count // wide)
    figure, axes = plt.subplots(
        tall, wide, squeeze=False, figsize=(3.4 * wide, 0.6 + tall * (0.8 + 0.28 * rows_each))
    )
    flat = list(axes.flat)
    for extra in flat[count:]:
        extra.set_visible(False)
    return figure, flat[:count]


def _hbars(
    ax: Any,
    labels: Sequence[str],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float] | None],
    strong: Sequence[bool],
    notes: Sequence[str],
    *,
    forest: bool,
    same_rows: bool = False,
) -> None:
    positions = list(range(len(labels)))[::-1]
    for y, value, interval, filled, note in zip(
        positions, values, intervals, strong, notes, strict=True
    ):
        face = COLORS[0] if filled else "white"
        if forest:
            ax.plot([value], [y], "o", color=COLORS[0], markerfacecolor=face, markersize=4)
        else:
            ax.barh([y], [value], color=COLORS[0] if filled else "#b8cde4", height=0.6)
        if interval is not None:
            ax.errorbar(
                [value],
                [y],
                xerr=[[value - interval[0]], [interval[1] - value]],
                fmt="none",
                ecolor="#222",
                capsize=2,
                linewidth=0.8,
            )
        if note:
            ax.annotate(
                note,
                (1.0, y),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
            )
    if forest:
        ax.axvline(0.0, color="#333", linewidth=0.8)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    # panels side by side with the same rows name them once, on the left
    first = ax.get_subplotspec().is_first_col()
    ax.set_yticks(positions, labels if first or not same_rows else [])


def _bars(plt: Any, report: TaskReport, column: str | None) -> Any:
    board = report.board
    columns = _columns(report, column)
    rows = [r for r in board.rows if not r.control_of]
    figure, axes = _panels(plt, len(columns), len(rows))
    same = all(all(name in r.cells for r in rows) for name in columns)
    for ax, name in zip(axes, columns, strict=True):
        shown = [r for r in rows if name in r.cells]
        cells = [r.cells[name] for r in shown]
        _hbars(
            ax,
            [f"{r.model} {r.strategy}" for r in shown],
            [100 * c.value for c in cells],
            [None if (b := c.bounds()) is None else (100 * b[0], 100 * b[1]) for c in cells],
            [c.best for c in cells],
            [
                ("†" if c.same_as_best else "‡" if c.untested else "")
                + ("" if c.limit is None else f" §{c.limit}")
                for c in cells
            ],
            forest=False,
            same_rows=same,
        )
        ax.set_title(name + (" (macro average)" if name == MEAN else ""))
        ax.set_xlabel(f"{board.metric} x100")
    return _titled(
        figure,
        f"{board.task} on {board.dataset}: bold bar best; † not significantly "
        f"different (Holm, alpha {board.alpha})",
    )


def _forest(plt: Any, report: TaskReport, column: str | None) -> Any:
    columns = [
        c for c in _columns(report, column) if any(d.column == c for d in report.differences)
    ]
    if not columns:
        raise HarnessError(f"--column {column!r}: no paired differences there")
    alpha = report.board.alpha
    most = max(sum(d.column == c for d in report.differences) for c in columns)
    figure, axes = _panels(plt, len(columns), most)
    rows_of = [
        [(d.model, d.strategy) for d in report.differences if d.column == c] for c in columns
    ]
    same = all(rows == rows_of[0] for rows in rows_of)
    for ax, name in zip(axes, columns, strict=True):
        found = [d for d in report.differences if d.column == name]
        _hbars(
            ax,
            [f"{d.model} {d.strategy}" for d in found],
            [100 * d.difference for d in found],
            [(100 * d.ci_low, 100 * d.ci_high) for d in found],
            [d.p_holm < alpha for d in found],
            ["*" if d.p_holm < alpha else "" for d in found],
            forest=True,
            same_rows=same,
        )
        ax.set_title(name)
        ax.set_xlabel(f"{report.board.metric} x100, minus {report.baseline}")
    return _titled(
        figure,
        f"{report.board.task} on {report.board.dataset}: paired differences, 95% "
        f"interval; * significant (Holm over {len(report.differences)}, alpha "
        f"{alpha})",
    )


def _cost(plt: Any, report: TaskReport, column: str | None) -> Any:
    view = report.costs
    assert view is not None
    figure, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.8))
    for i, row in enumerate(view.rows):
        color = COLORS[i % len(COLORS)]
        left.errorbar(
            [row.seconds_per_request],
            [100 * row.score],
            yerr=[[100 * (row.score - row.ci_low)], [100 * (row.ci_high - row.score)]],
            fmt="o",
            color=color,
            capsize=2,
            markersize=4,
            label=f"{row.model} {row.strategy}",
        )
    left.set_xlabel("seconds per request")
    left.set_ylabel(f"{view.metric} x100")
    left.set_xlim(left=0)
    series, marks, _ = break_even_lines(view)
    for i, s in enumerate(series):
        xs, ys = zip(*s.points, strict=True)
        right.plot(xs, ys, color=COLORS[i % len(COLORS)], linewidth=1.2, label=s.label)
    for x, _ in marks:
        right.axvline(x, color="#999", linestyle=":", linewidth=0.8)
    right.set_xlabel("requests served")
    right.set_ylabel("total seconds (one-off + requests)")
    right.legend(fontsize=6, frameon=False)
    return _titled(
        figure,
        f"{view.task} on {view.dataset}: {view.metric} against cost (dotted: break-even)",
    )


def _track(plt: Any, report: TaskReport, column: str | None) -> Any:
    keys = sorted({(t.model, t.strategy) for t in report.tracks})
    figure, axes = _panels(plt, len(keys), 8)
    for ax, key in zip(axes, keys, strict=True):
        tracks = [t for t in report.tracks if (t.model, t.strategy) == key]
        for i, t in enumerate(tracks):
            color = COLORS[i % len(COLORS)]
            ax.plot(
                t.steps,
                [100 * v for v in t.score],
                "-o",
                color=color,
                markersize=3,
                label=t.partition,
            )
            if t.first_snapshot is not None:
                ax.plot(
                    t.steps, [100 * v for v in t.first_snapshot], "--", color=color, linewidth=0.9
                )
        ax.set_title(f"{key[0]} {key[1]}")
        ax.set_xlabel("commits applied")
        ax.set_ylabel(f"{report.board.metric} x100")
        ax.legend(fontsize=6, frameon=False)
    return _titled(
        figure,
        "evolution track (dashed: the first snapshot's adapter)",
    )


def _loss(plt: Any, report: TaskReport, column: str | None) -> Any:
    keys = sorted({(c.model, c.strategy) for c in report.curves})
    figure, axes = _panels(plt, len(keys), 8)
    for ax, key in zip(axes, keys, strict=True):
        for i, curve in enumerate(c for c in report.curves if (c.model, c.strategy) == key):
            xs, ys = zip(*curve.points, strict=True)
            ax.plot(xs, ys, color=COLORS[i % len(COLORS)], linewidth=1.0, label=curve.what)
        ax.set_title(f"{key[0]} {key[1]}")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=6, frameon=False)
    figure.tight_layout()
    return figure
