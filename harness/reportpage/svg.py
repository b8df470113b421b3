"""Inline SVG figures for the report page, drawn from numbers alone (no plotting library):
horizontal interval bars, a forest of differences, dots per seed, a scatter, lines and a
heatmap. Every mark carries a ``<title>`` with its exact numbers (the browser's tooltip).

Values are given as they are shown (x100 for scores); each figure scales its own axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 640
LABEL_W = 220
ROW_H = 18
PALETTE = (
    "#3b6ea8",
    "#d0743c",
    "#5b9a4b",
    "#a8475a",
    "#7a63a8",
    "#8c6d3f",
    "#c45a9a",
    "#5a8f9a",
    "#9a9a3b",
    "#555555",
)


@dataclass
class Bar:
    """One row of an interval chart: a value with its 95% interval (None: no interval)."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    strong: bool = False  # drawn filled (best of its column; significant difference)
    note: str = ""  # the mark printed after the number (†, ‡, *)


@dataclass
class Series:
    """A named line: (x, y) points."""

    label: str
    points: list[tuple[float, float]]
    dashed: bool = False


@dataclass
class Point:
    """A scatter point with an optional vertical interval."""

    label: str
    x: float
    y: float
    low: float | None = None
    high: float | None = None


@dataclass
class Axis:
    low: float
    high: float
    ticks: list[float] = field(default_factory=list)

    @classmethod
    def over(cls, values: Sequence[float], *, zero: bool = False) -> Axis:
        """An axis with 'nice' ticks covering `values` (and 0 when `zero`)."""
        found = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
        low, high = min(found), max(found)
        if zero:
            low, high = min(low, 0.0), max(high, 0.0)
        if high == low:
            low, high = (0.0, 1.0) if zero and low == 0 else (low - 1.0, high + 1.0)
        step = _nice((high - low) / 5)
        start, stop = math.floor(low / step) * step, math.ceil(high / step) * step
        ticks = [start + i * step for i in range(int(round((stop - start) / step)) + 1)]
        return cls(start, stop, ticks)

    def at(self, value: float, length: float) -> float:
        return (value - self.low) / (self.high - self.low) * length


def _nice(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _num(value: float) -> str:
    return f"{value:.4g}"


def _open(width: float, height: float, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fig" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="4" y="14" class="ft">{escape(title)}</text>',
    ]


def _x_axis(axis: Axis, left: float, top: float, width: float, height: float) -> list[str]:
    out = []
    for tick in axis.ticks:
        x = left + axis.at(tick, width)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" class="grid"/>')
        out.append(
            f'<text x="{x:.1f}" y="{top + height + 12}" class="tick" '
            f'text-anchor="middle">{_num(tick)}</text>'
        )
    return out


def _y_axis(axis: Axis, left: float, top: float, width: float, height: float) -> list[str]:
    out = []
    for tick in axis.ticks:
        y = top + height - axis.at(tick, height)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" class="grid"/>'
        )
        out.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" class="tick" '
            f'text-anchor="end">{_num(tick)}</text>'
        )
    return out


def interval_bars(
    title: str,
    bars: Sequence[Bar],
    *,
    unit: str = "",
    zero_line: bool = False,
    from_zero: bool = True,
) -> str:
    """Horizontal bars (or, with `zero_line`, a forest: a dot per row and a line at 0),
    each with its interval as a whisker."""
    values = [v for b in bars for v in (b.value, b.low, b.high) if v is not None]
    axis = Axis.over(values, zero=from_zero or zero_line)
    right = 8 + 6 * max((len(b.note) for b in bars), default=0)
    plot_w, top = WIDTH - LABEL_W - max(right, 20), 24
    height = top + ROW_H * len(bars) + 24
    out = _open(WIDTH, height, title)
    out += _x_axis(axis, LABEL_W, top, plot_w, ROW_H * len(bars))
    if zero_line:
        x0 = LABEL_W + axis.at(0.0, plot_w)
        out.append(
            f'<line x1="{x0:.1f}" y1="{top}" x2="{x0:.1f}" '
            f'y2="{top + ROW_H * len(bars)}" class="zero"/>'
        )
    for i, bar in enumerate(bars):
        y = top + i * ROW_H + ROW_H / 2
        interval = "" if bar.low is None else f" [{_num(bar.low)}, {_num(bar.high or 0)}]"
        tip = escape(f"{bar.label}: {bar.value:.2f}{bar.note}{interval} {unit}".strip())
        out.append(f"<g><title>{tip}</title>")
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + 4:.1f}" class="lab" '
            f'text-anchor="end">{escape(_short(bar.label))}</text>'
        )
        x = LABEL_W + axis.at(bar.value, plot_w)
        filled = "s" if bar.strong else "w"
        if zero_line:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="{filled}"/>')
        else:
            x0 = LABEL_W + axis.at(max(axis.low, 0.0), plot_w)
            out.append(
                f'<rect x="{min(x0, x):.1f}" y="{y - 6:.1f}" width="{abs(x - x0):.1f}" '
                f'height="12" class="{filled}"/>'
            )
        if bar.low is not None and bar.high is not None:
            x1, x2 = (LABEL_W + axis.at(v, plot_w) for v in (bar.low, bar.high))
            out.append(
                f'<path d="M{x1:.1f} {y:.1f}H{x2:.1f}M{x1:.1f} {y - 4:.1f}V{y + 4:.1f}'
                f'M{x2:.1f} {y - 4:.1f}V{y + 4:.1f}" class="ci"/>'
            )
        if bar.note:
            out.append(
                f'<text x="{LABEL_W + plot_w + 6:.1f}" y="{y + 4:.1f}" class="lab">'
                f"{escape(bar.note)}</text>"
            )
        out.append("</g>")
    return "\n".join([*out, "</svg>"])


def seed_dots(title: str, rows: Sequence[tuple[str, Sequence[tuple[int, float]], float]]) -> str:
    """Per row (label, [(seed, value)], mean): a dot per seed and a bar at the mean."""
    axis = Axis.over([v for _, seeds, mean in rows for v in [mean, *(x for _, x in seeds)]])
    plot_w, top = WIDTH - LABEL_W - 20, 24
    height = top + ROW_H * len(rows) + 24
    out = _open(WIDTH, height, title)
    out += _x_axis(axis, LABEL_W, top, plot_w, ROW_H * len(rows))
    for i, (label, seeds, mean) in enumerate(rows):
        y = top + i * ROW_H + ROW_H / 2
        listed = ", ".join(f"seed {s}: {v:.2f}" for s, v in seeds)
        out.append(f"<g><title>{escape(f'{label}: mean {mean:.2f}; {listed}')}</title>")
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + 4:.1f}" class="lab" '
            f'text-anchor="end">{escape(_short(label))}</text>'
        )
        xm = LABEL_W + axis.at(mean, plot_w)
        out.append(
            f'<line x1="{xm:.1f}" y1="{y - 7:.1f}" x2="{xm:.1f}" y2="{y + 7:.1f}" class="mean"/>'
        )
        for _, value in seeds:
            x = LABEL_W + axis.at(value, plot_w)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="w"/>')
        out.append("</g>")
    return "\n".join([*out, "</svg>"])


def _frame(
    title: str, x_axis: Axis, y_axis: Axis, x_label: str, y_label: str
) -> tuple[list[str], float, float, float, float]:
    left, top, width, height = 60.0, 24.0, WIDTH - 80.0, 240.0
    out = _open(WIDTH, top + height + 40, title)
    out += _x_axis(x_axis, left, top, width, height)
    out += _y_axis(y_axis, left, top, width, height)
    out.append(
        f'<text x="{left + width / 2}" y="{top + height + 30}" class="lab" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="12" y="{top + height / 2}" class="lab" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + height / 2})">{escape(y_label)}</text>'
    )
    return out, left, top, width, height


def lines(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    *,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Line chart of `series`; `marks` are vertical lines at x with a label (break-even)."""
    xs = [x for s in series for x, _ in s.points] + [x for x, _ in marks]
    ys = [y for s in series for _, y in s.points]
    x_axis, y_axis = Axis.over(xs, zero=bool(marks)), Axis.over(ys, zero=bool(marks))
    out, left, top, width, height = _frame(title, x_axis, y_axis, x_label, y_label)
    for x, text in marks:
        px = left + x_axis.at(x, width)
        out.append(
            f'<g><title>{escape(text)}</title><line x1="{px:.1f}" y1="{top}" '
            f'x2="{px:.1f}" y2="{top + height}" class="mark"/></g>'
        )
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{left + x_axis.at(x, width):.1f} "
            f"{top + height - y_axis.at(y, height):.1f}"
            for j, (x, y) in enumerate(s.points)
        )
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        points = "; ".join(f"{_num(x)}: {_num(y)}" for x, y in s.points[:12])
        more = " ..." if len(s.points) > 12 else ""
        out.append(
            f"<g><title>{escape(f'{s.label}: {points}{more}')}</title>"
            f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>'
        )
        if len(s.points) == 1:
            x, y = s.points[0]
            out.append(
                f'<circle cx="{left + x_axis.at(x, width):.1f}" '
                f'cy="{top + height - y_axis.at(y, height):.1f}" r="3" fill="{color}"/>'
            )
        out.append("</g>")
    out += _legend(
        [(s.label, PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)], left + 8, top + 6
    )
    return "\n".join([*out, "</svg>"])


def scatter(title: str, points: Sequence[Point], x_label: str, y_label: str) -> str:
    """Points with vertical intervals, each labelled."""
    x_axis = Axis.over([p.x for p in points], zero=True)
    y_axis = Axis.over(
        [v for p in points for v in (p.y, p.low, p.high) if v is not None], zero=True
    )
    out, left, top, width, height = _frame(title, x_axis, y_axis, x_label, y_label)
    for i, p in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        x, y = left + x_axis.at(p.x, width), top + height - y_axis.at(p.y, height)
        interval = "" if p.low is None else f" [{p.low:.2f}, {p.high or 0:.2f}]"
        out.append(f"<g><title>{escape(f'{p.label}: {p.y:.2f}{interval} at {p.x:.4g}')}</title>")
        if p.low is not None and p.high is not None:
            y1, y2 = (top + height - y_axis.at(v, height) for v in (p.low, p.high))
            out.append(
                f'<path d="M{x:.1f} {y1:.1f}V{y2:.1f}" stroke="{color}" stroke-width="1.5"/>'
            )
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{color}"/>')
        out.append(
            f'<text x="{x + 7:.1f}" y="{y - 5:.1f}" class="lab">{escape(_short(p.label))}'
            "</text></g>"
        )
    return "\n".join([*out, "</svg>"])


def heatmap(title: str, names: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """A square matrix in [-1, 1] (cosines): white at 0, blue towards 1, red towards -1."""
    n = len(matrix)
    cell = max(8.0, min(28.0, 360.0 / max(n, 1)))
    left, top = LABEL_W / 1.5, 24.0
    out = _open(max(left + cell * n + 20, 8 + 6.5 * len(title)), top + cell * n + 20, title)
    for i, row in enumerate(matrix):
        name = names[i] if i < len(names) else str(i)
        out.append(
            f'<text x="{left - 4}" y="{top + cell * i + cell / 2 + 4:.1f}" class="lab" '
            f'text-anchor="end">{escape(_short(name, 24))}</text>'
        )
        for j, value in enumerate(row):
            other = names[j] if j < len(names) else str(j)
            out.append(
                f'<rect x="{left + cell * j:.1f}" y="{top + cell * i:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="{_diverging(value)}">'
                f"<title>{escape(f'{name} · {other}: {value:.4f}')}</title></rect>"
            )
    return "\n".join([*out, "</svg>"])


def _diverging(value: float) -> str:
    v = max(-1.0, min(1.0, value))
    strength = abs(v)
    base = (59, 110, 168) if v >= 0 else (196, 80, 70)
    r, g, b = (round(255 - (255 - c) * strength) for c in base)
    return f"#{r:02x}{g:02x}{b:02x}"


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for i, (label, color) in enumerate(entries[:12]):
        yy = y + i * 13
        out.append(f'<rect x="{x}" y="{yy}" width="10" height="3" fill="{color}"/>')
        out.append(
            f'<text x="{x + 14}" y="{yy + 5}" class="tick">{escape(_short(label, 48))}</text>'
        )
    return out


def _short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
