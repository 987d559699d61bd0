"""Server-side SVG charts: well-formed, accessible, figures in text, no style attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from app.core import charts
from app.core.lifecycle import Light
from app.core.review import MonthCount, OfficeRow, ReviewFigures

SVG = "{http://www.w3.org/2000/svg}"


def figures(offices: int = 3, months: tuple[MonthCount, ...] = ()) -> ReviewFigures:
    rows = tuple(
        OfficeRow(i, f"单位{i}<&>", 4, 4 - i, i, 0, 0, 4 - i, 1.0 if i < 4 else None,
                  (4 - i) / 4, Light.GREEN, rank=i)
        for i in range(1, offices + 1)
    )  # fmt: skip
    return ReviewFigures(
        as_of=date(2022, 10, 12), total=4 * offices, closed=0, overdue=0, due_soon=0, on_time=0,
        on_time_rate=None, extended=0, cancelled=0, offices=rows, commitments=(),
        overdue_tasks=(), closed_by_month=months, outcomes=(), praised=(), named=(),
    )  # fmt: skip


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed (escaping)


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_office_bars_say_their_figures_in_text() -> None:
    root = parse(charts.office_completion_svg(figures()))
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"{SVG}title").get("id") == title_id == "chart-offices-title"
    assert root.find(f"{SVG}desc").get("id") == desc_id
    assert root.find(f"{SVG}title").text == "各单位任务办结情况"
    assert "单位1<&>" in texts(root) and "已办结3/4（75%）" in texts(root)
    assert "已办结1/4（25%）" in texts(root)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "chart-bar"]
    assert [float(b.get("width")) for b in bars] == [240.0, 160.0, 80.0]  # 320 × share


def test_no_style_attributes_anywhere() -> None:
    months = (MonthCount(2022, 9, 2), MonthCount(2022, 10, 0))
    for svg in (charts.office_completion_svg(figures()),
                charts.closed_per_month_svg(figures(months=months))):  # fmt: skip
        root = parse(svg)
        assert all("style" not in element.attrib for element in root.iter())
        assert "<script" not in svg


def test_month_columns_carry_counts_and_labels() -> None:
    months = (MonthCount(2022, 9, 2), MonthCount(2022, 10, 0), MonthCount(2022, 11, 4))
    root = parse(charts.closed_per_month_svg(figures(months=months)))
    words = texts(root)
    assert [w for w in words if w.isdigit()] == ["2", "0", "4"]
    assert words.count("2022年") == 3 and "10月" in words
    desc = root.find(f"{SVG}desc").text
    assert "2022年9月2项，2022年10月0项，2022年11月4项" in desc
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert heights == [80.0, 0.0, 160.0]  # scaled to the highest


def test_long_lists_and_names_are_cut_and_said() -> None:
    root = parse(charts.office_completion_svg(figures(offices=40)))
    rows = [g for g in root.iter(f"{SVG}g")]
    assert len(rows) == charts.CHART_OFFICES
    assert "共40个单位，图中为排名前30位" in root.find(f"{SVG}desc").text
    long = charts.bar_chart("x", "t", "d", [charts.Bar("一二三四五六七八九十一二三四", 0.5, "1/2")])
    words = texts(parse(long))
    assert words[0] == "一二三四五六七八九十一…"
    assert parse(long).find(f"{SVG}g/{SVG}title").text == "一二三四五六七八九十一二三四：1/2"


def test_empty_charts_say_so() -> None:
    for svg in (charts.bar_chart("a", "t", "d", []), charts.column_chart("b", "t", "d", [])):
        assert "暂无数据" in texts(parse(svg))


def test_chart_ids_are_made_safe() -> None:
    root = parse(charts.bar_chart('x" onload="y', "t", "d", []))
    assert root.get("aria-labelledby") == "x--onload--y-title x--onload--y-desc"
