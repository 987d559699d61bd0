"""Server-side SVG charts for the progress review (no script, no CDN). Pure: numbers in, markup
out.

The charts are for reading without colour and without a mouse: each has a <title> and a
<desc> (named by aria-labelledby, so a screen reader announces them), and every bar carries
its figures as text beside it (已办结 3/4（75%）), so nothing is told by colour or length
alone. Colours are SVG presentation attributes (fill=…) plus a class for the stylesheet: the
page's Content-Security-Policy refuses style attributes, not presentation attributes. Every
text is escaped. Sizes are in user units with a viewBox, so a chart scales to its container.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from app.core.review import ReviewFigures, percent
from app.core.timefmt import format_date_cn

BAR_FILL = "#9a1b1b"  # the brand red of app.css
TRACK_FILL = "#eaeef2"
INK = "#1f2328"
MUTED = "#57606a"
FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"
LABEL_CHARS = 12  # longer office names are cut with … (the full name is in the row's <title>)
_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, how far it goes (0..1) and the text that says the same in figures."""

    label: str
    share: float
    text: str


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text_width(text: str, size: float) -> float:
    """Roughly how wide TEXT is at font SIZE: CJK and full-width characters a full em, the rest
    about half (no font metrics here; the layout leaves room for the difference)."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.6 for ch in text)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _open_svg(chart_id: str, width: float, height: float, title: str, desc: str, kind: str) -> str:
    safe = _ID.sub("-", chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {_number(width)} {_number(height)}" width="{_number(width)}" '
        f'height="{_number(height)}" aria-labelledby="{safe}-title {safe}-desc" '
        f'font-family="{_attr(FONT)}" font-size="13">'
        f'<title id="{safe}-title">{escape(title)}</title>'
        f'<desc id="{safe}-desc">{escape(desc)}</desc>'
    )


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar]) -> str:
    """Horizontal bars, one row each: the label, a track with the bar, the figures after it."""
    row, size = 26.0, 13.0
    label_width = max([_text_width(_short(b.label), size) for b in bars] + [4 * size]) + 12
    track = 320.0
    text_width = max([_text_width(b.text, size) for b in bars] + [0.0]) + 16
    width, height = label_width + track + text_width, row * max(len(bars), 1) + 8
    parts = [_open_svg(chart_id, width, height, title, desc, "bars")]
    if not bars:
        parts.append(f'<text x="8" y="20" fill="{MUTED}">暂无数据</text>')
    for index, bar in enumerate(bars):
        y = 4 + index * row
        share = min(max(bar.share, 0.0), 1.0)
        parts.append(
            f'<g class="chart-row"><title>{escape(bar.label)}：{escape(bar.text)}</title>'
            f'<text x="{_number(label_width - 8)}" y="{_number(y + 17)}" text-anchor="end" '
            f'fill="{INK}">{escape(_short(bar.label))}</text>'
            f'<rect class="chart-track" x="{_number(label_width)}" y="{_number(y + 4)}" '
            f'width="{_number(track)}" height="16" fill="{TRACK_FILL}"/>'
            f'<rect class="chart-bar" x="{_number(label_width)}" y="{_number(y + 4)}" '
            f'width="{_number(track * share)}" height="16" fill="{BAR_FILL}"/>'
            f'<text x="{_number(label_width + track + 8)}" y="{_number(y + 17)}" '
            f'fill="{INK}">{escape(bar.text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(chart_id: str, title: str, desc: str, columns: Sequence[tuple[str, int]]) -> str:
    """Vertical columns with their count above and their label (a month) below."""
    size, column, gap, plot = 12.0, 28.0, 14.0, 160.0
    top, bottom, left = 22.0, 40.0, 12.0
    highest = max([value for _, value in columns] + [0])
    width = left * 2 + max(len(columns), 1) * (column + gap)
    height = top + plot + bottom
    parts = [_open_svg(chart_id, width, height, title, desc, "columns")]
    base = top + plot
    parts.append(
        f'<line x1="{_number(left)}" y1="{_number(base)}" x2="{_number(width - left)}" '
        f'y2="{_number(base)}" stroke="{MUTED}" stroke-width="1"/>'
    )
    if not columns:
        parts.append(f'<text x="{_number(left)}" y="{_number(base - 8)}" fill="{MUTED}">'
                     "暂无数据</text>")  # fmt: skip
    for index, (label, value) in enumerate(columns):
        x = left + gap / 2 + index * (column + gap)
        tall = plot * value / highest if highest else 0.0
        middle = x + column / 2
        parts.append(
            f'<g class="chart-column"><title>{escape(label)}：{value}</title>'
            f'<rect class="chart-bar" x="{_number(x)}" y="{_number(base - tall)}" '
            f'width="{_number(column)}" height="{_number(tall)}" fill="{BAR_FILL}"/>'
            f'<text x="{_number(middle)}" y="{_number(base - tall - 5)}" text-anchor="middle" '
            f'fill="{INK}" font-size="{_number(size)}">{value}</text>'
            f"{_month_label(label, middle, base, size)}</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _month_label(label: str, middle: float, base: float, size: float) -> str:
    """2022年10月 in two lines under its column: the year small, the month below it."""
    year, _, month = label.partition("年")
    lines = [(year + "年", size - 2, MUTED), (month, size, INK)] if month else [(label, size, INK)]
    return "".join(
        f'<text x="{_number(middle)}" y="{_number(base + 16 + i * 15)}" text-anchor="middle" '
        f'fill="{fill}" font-size="{_number(font)}">{escape(text)}</text>'
        for i, (text, font, fill) in enumerate(lines)
    )


# -- the review's two charts ----------------------------------------------------------------

CHART_OFFICES = 30  # a chart of 200 offices is a wall; the table below it has them all


def office_completion_svg(figures: ReviewFigures, chart_id: str = "chart-offices") -> str:
    """各单位办结情况: a bar per office in rank order (the first CHART_OFFICES)."""
    shown = figures.offices[:CHART_OFFICES]
    bars = [
        Bar(o.name, o.completion_rate or 0.0,
            f"已办结{o.closed}/{o.total}（{percent(o.completion_rate)}）")
        for o in shown
    ]  # fmt: skip
    desc = f"截至{format_date_cn(figures.as_of)}，各单位任务办结率，按排名先后排列。"
    if len(figures.offices) > len(shown):
        desc += f"共{len(figures.offices)}个单位，图中为排名前{len(shown)}位，完整数据见表格。"
    return bar_chart(chart_id, "各单位任务办结情况", desc, bars)


def closed_per_month_svg(figures: ReviewFigures, chart_id: str = "chart-months") -> str:
    """每月办结任务数: a column per month, zero months included."""
    columns = [(m.label, m.closed) for m in figures.closed_by_month]
    listed = "，".join(f"{label}{count}项" for label, count in columns)
    desc = f"截至{format_date_cn(figures.as_of)}，每月办结任务数：{listed or '暂无'}。"
    return column_chart(chart_id, "每月办结任务数", desc, columns)
