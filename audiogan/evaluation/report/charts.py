"""Inline SVG line charts for the report page (no script, no library)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass


MAX_POINTS = 1500  # points per curve (longer series are thinned evenly, the last point kept)


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    return f"{value:.3g}" if 1e-3 <= magnitude < 1e5 else f"{value:.2e}"


def _thin(steps: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    if len(steps) <= MAX_POINTS:
        return steps, values
    index = sorted(set(np.linspace(0, len(steps) - 1, MAX_POINTS).round().astype(int).tolist()))
    return [steps[i] for i in index], [values[i] for i in index]


def svg_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    marks: Sequence[tuple[float, float, str]] = (),
    events: Sequence[tuple[float, str]] = (),
    width: int = 560,
    height: int = 220,
) -> str:
    """An inline SVG line chart of ``(name, steps, values)`` series against the step.

    Non-finite values break a line. ``marks`` are ``(step, value, label)`` points ringed and
    labelled (the best evaluation); ``events`` are ``(step, label)`` vertical lines (divergence
    restores). Each line carries its points as ``data-steps`` / ``data-values``.
    """
    left, right, top, bottom = 58, 14, 40, 30
    points = [
        (s, v)
        for _, steps, values in series
        for s, v in zip(steps, values)
        if isinstance(v, (int, float)) and math.isfinite(v)
    ]
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="16" class="ctitle">{_e(title)}</text>',
    ]
    if not points:
        out.append(f'<text x="{left}" y="{height // 2}" class="empty">no values logged</text></svg>')
        return "".join(out)
    xs = [p[0] for p in points] + [e[0] for e in events]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    low = y0
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    else:
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad
    if low >= 0 > y0:  # counts and distances never go below zero: neither does their axis
        y0 = 0.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(step: float) -> float:
        return left + (step - x0) / (x1 - x0) * plot_w

    def py(value: float) -> float:
        return top + (1 - (value - y0) / (y1 - y0)) * plot_h

    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>'
        + "".join(
            f'<text x="{left - 4}" y="{py(v) + 4:.1f}" class="ytick">{_e(_num(v))}</text>'
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(v):.1f}" y2="{py(v):.1f}" class="grid"/>'
            for v in (y0, (y0 + y1) / 2, y1)
        )
        + "".join(
            f'<text x="{px(s):.1f}" y="{height - 12}" text-anchor="{anchor}">{int(round(s))}</text>'
            for s, anchor in ((x0, "start"), ((x0 + x1) / 2, "middle"), (x1, "end"))
        )
        + f'<text x="{left + plot_w}" y="{height - 1}" class="xlabel">step</text>'
    )
    for step, label in events:
        out.append(
            f'<line x1="{px(step):.1f}" x2="{px(step):.1f}" y1="{top}" y2="{top + plot_h}" class="event">'
            f"<title>{_e(label)}</title></line>"
        )
    for i, (name, steps, values) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        steps, values = _thin(list(steps), list(values))
        runs: list[list[str]] = [[]]
        for s, v in zip(steps, values):
            if isinstance(v, (int, float)) and math.isfinite(v):
                runs[-1].append(f"{px(s):.1f},{py(v):.1f}")
            elif runs[-1]:
                runs.append([])
        data = (
            f'data-key="{_e(name)}" data-steps="{",".join(str(int(s)) for s in steps)}" '
            f'data-values="{",".join(f"{v:.9g}" if isinstance(v, (int, float)) else "nan" for v in values)}"'
        )
        shapes = []
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                shapes.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                shapes.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}"/>')
        out.append(f'<g class="series" {data}>' + "".join(shapes) + "</g>")
        at = left + i * min(110, plot_w // len(series))
        out.append(
            f'<rect x="{at}" y="26" width="10" height="3" fill="{colour}"/>'
            f'<text x="{at + 14}" y="31" class="legend">{_e(name)}</text>'
        )
    for step, value, label in marks:
        if math.isfinite(value):
            anchor = "end" if px(step) > left + plot_w * 0.7 else "start"
            dx = -8 if anchor == "end" else 8
            out.append(
                f'<circle cx="{px(step):.1f}" cy="{py(value):.1f}" r="5" class="mark" '
                f'data-step="{int(step)}"/>'
                f'<text x="{px(step) + dx:.1f}" y="{py(value) - 7:.1f}" text-anchor="{anchor}" '
                f'class="marklabel">{_e(label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
