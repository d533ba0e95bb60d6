"""Server-rendered SVG of where the population lies on one indicator, with the thresholds on it (pure).

Bars are stacked by the grade each enterprise gets under the edited version, in the grade's colour (the
scheme's own, else by rank: scheme.grade_colours);
the edited version's thresholds are solid lines, the version in force's dashed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from carbon_rating import scheme as sc
from carbon_rating.vectorised import UNGRADED, Distribution

UNGRADED_COLOUR = "#9e9e9e"


def grade_colours(document: Mapping[str, object]) -> dict[str, str]:
    """Grade id -> colour: each grade's own `colour` from the scheme, else by rank; ungraded grey."""
    grades = [g for g in document.get("grades", []) if isinstance(g, Mapping)]  # type: ignore[attr-defined]
    out = sc.grade_colours(grades)
    out[UNGRADED] = UNGRADED_COLOUR
    return out


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on the background (WCAG relative luminance)."""
    channels = []
    for i in (1, 3, 5):
        c = int(background[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    luminance = 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


@dataclass(frozen=True)
class Line:
    threshold: sc.Threshold
    version: str  # "after" (edited) or "before" (in force)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def _label(value: float) -> str:
    return format(round(value, 6), "g")


def distribution_svg(
    shape: Distribution,
    grades: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str],
    lines: Sequence[Line],
    axis_title: str,
) -> str:
    """A stacked histogram (enterprises per value bin, by grade) with threshold lines and both axes."""
    width, height = 720, 320
    left, right, top, bottom = 56, 16, 28, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    title = f"{axis_title}：企业分布与阈值 Distribution and thresholds"
    parts = [
        f'<svg id="distribution-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="distribution-title" data-indicator="{escape(shape.indicator)}">',
        f'<title id="distribution-title">{escape(title)}</title>',
    ]
    if not shape.bins:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">无数据 No values</text></svg>')
        return "".join(parts)
    low, high = shape.bins[0].low, shape.bins[-1].high
    peak = max(1, *(sum(b.counts.values()) for b in shape.bins))
    y_step = max(1, _ticks(0, peak, 4)[1] if len(_ticks(0, peak, 4)) > 1 else peak)
    y_max = math.ceil(peak / y_step) * y_step

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    def y_of(count: float) -> float:
        return top + plot_h - count / y_max * plot_h

    # axes and gridlines
    for tick in range(0, int(y_max) + 1, int(y_step)):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{tick}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#444"/>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#444"/>')
    for mark in _ticks(low, high, 6):
        x = x_of(mark)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="#444"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 18}" font-size="12" text-anchor="middle">{_label(mark)}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 22}" font-size="13" text-anchor="middle">'
        f"{escape(axis_title)}</text>"
    )
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" font-size="13" text-anchor="middle">'
        "企业数 enterprises</text>"
    )
    # stacked bars
    bar_w = plot_w / len(shape.bins)
    for index, item in enumerate(shape.bins):
        base = 0
        for grade in grades:
            count = item.counts.get(grade, 0)
            if not count:
                continue
            y0, y1 = y_of(base), y_of(base + count)
            parts.append(
                f'<rect class="bin" data-bin="{index}" data-grade="{escape(grade)}" data-count="{count}" '
                f'x="{left + index * bar_w + 0.5:.1f}" y="{y1:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{y0 - y1:.1f}" fill="{colours.get(grade, UNGRADED_COLOUR)}">'
                f"<title>{escape(labels.get(grade, grade))} {_label(item.low)}–{_label(item.high)}: {count}</title>"
                "</rect>"
            )
            base += count
    # threshold lines; labels alternate rows so close thresholds do not overlap
    for number, line in enumerate(sorted(lines, key=lambda item: (item.version, item.threshold.value))):
        value = float(line.threshold.value)
        if not low <= value <= high:
            continue
        x = x_of(value)
        after = line.version == "after"
        dash = "" if after else ' stroke-dasharray="5 4"'
        colour = "#111" if after else "#757575"
        parts.append(
            f'<line class="threshold {line.version}" data-value="{line.threshold.value}" '
            f'data-field="{escape(line.threshold.field)}" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" '
            f'y2="{top + plot_h}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        if after:
            row = number % 2
            result = labels.get(line.threshold.result, line.threshold.result)
            text = f"{line.threshold.op}{line.threshold.value} → {result}"
            # near the right edge the label goes left of its line
            anchor, dx = ("end", -3) if x > left + plot_w * 0.75 else ("start", 3)
            parts.append(
                f'<text x="{x + dx:.1f}" y="{top + 10 + row * 13}" font-size="11" fill="#111" '
                f'text-anchor="{anchor}">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
