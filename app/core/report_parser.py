"""Report text → ParsedReport: the commitments of a 法治政府建设 report, and its context.

The parser is a pipeline of small, linear passes over one normalised string:

1. Line classification (report_text, report_outline): lines with offsets; hard-wrap detection;
   headings (一、…, （一）…, bare keyword lines), page furniture, 特此报告, signatures, dates.
2. Section segmentation (report_outline): top-level headings cut the body into sections, which
   are categorised by their words (工作情况 / 存在问题 / 下一步打算 / both / other); terminators
   end a section, so 五、其他需要报告的情况, a signature or 打印本页 never join the last item.
3. Item splitting (report_items): inside a region, the first marker numbered 1 fixes the
   marker kind and the following numbers of that kind open the items, inline or as paragraphs;
   unnumbered regions fall back to paragraphs (or, for one paragraph, its ；-separated parts).
4. Field extraction (report_fields, report_meta): lead, deadline, office, measures and facts of
   each item; title, unit and year of the report.

Every PlanItem/ProblemItem carries (start, end) with text[start:end] == item.text. Nothing here
raises except ParseError for input that is not a report at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core import report_fields as fields
from app.core import report_meta as meta
from app.core.report_items import (
    Item,
    find_marked_items,
    find_unmarked_items,
    has_bold_lead,
    lead_span,
    lead_text,
    scan_markers,
    split_paragraph,
    starts_with_marker,
)
from app.core.report_outline import Outline, Section, sub_heading, top_heading
from app.core.report_text import Layout, Line, normalise, trim
from app.core.report_types import (
    AchievementItem,
    AchievementSection,
    ParsedReport,
    ParseError,
    PlanItem,
    ProblemItem,
)

NO_PLAN_WARNING = "未找到“下一步打算”部分（如“下一步打算”“下一步工作计划”“20XX年工作打算”等）。"
EMPTY_PLAN_WARNING = "找到了“{heading}”，但未能从中识别出具体事项。"
NO_TITLE_WARNING = "未识别到报告标题。"
NO_YEAR_WARNING = "未识别到报告年度。"
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PLAN_TURN_RE = re.compile(
    r"(?:下一步|下步|下阶段|下一阶段|今后|针对(?:上述|以上|这些|存在的)|为此|对此|新的一年|在新的一年"
    r"|20\d\d年[，,]|我们将|我[镇乡局区县市街委办所]将)"
)
_OVERVIEW_RE = re.compile(r"^(?:基本情况|总体情况|工作概况|概况|指导思想|总体要求)$")
_LEAD_IN_RE = re.compile(r"[^；;。]{0,40}?[：:]")
# Real reports have a handful of sections; past this many (garbage input) only count them.
_MAX_DETAILED = 200


@dataclass(slots=True)
class Region:
    heading: str | None
    start: int
    end: int


def parse_report(text: str) -> ParsedReport:
    """Parse a report's text (from .txt, .docx, PDF or a paste) into its structure."""
    text = normalise(text)
    if not text.strip():
        raise ParseError("文件内容为空。")
    if not _CJK_RE.search(text):
        raise ParseError("无法识别为报告：文本中没有中文内容。")
    layout = Layout(text)
    lines = layout.lines
    first_heading = _first_heading_line(layout)
    title = meta.find_title(lines, first_heading)
    body_line = title.line + 1 if title else 0
    body_start = lines[body_line].start if body_line < len(lines) else len(text)
    year = _title_or_intro_year(title, lines, body_line, first_heading)
    outline = Outline(layout, body_start, year)
    plans_at = _plan_region(outline)
    if year is None:
        year = _fallback_year(plans_at, lines)
    plans = _plans(layout, plans_at)
    return ParsedReport(
        title=title.text if title else None,
        unit=_unit(title, lines),
        year=year,
        plan_heading=plans_at.heading if plans_at else None,
        achievements=_achievements(outline, body_start),
        problems=_problems(layout, _problem_region(outline)),
        plans=plans,
        text=text,
        warnings=_warnings(plans_at, plans, title, year),
    )


def _warnings(
    plans_at: Region | None, plans: tuple[PlanItem, ...], title: meta.Title | None, year: int | None
) -> tuple[str, ...]:
    """What the user should check; the missing plan section comes first."""
    warnings = []
    if plans_at is None:
        warnings.append(NO_PLAN_WARNING)
    elif not plans:
        warnings.append(EMPTY_PLAN_WARNING.format(heading=plans_at.heading))
    if title is None:
        warnings.append(NO_TITLE_WARNING)
    if year is None:
        warnings.append(NO_YEAR_WARNING)
    return tuple(warnings)


# --- report-level fields ------------------------------------------------------------------


def _first_heading_line(layout: Layout) -> int:
    """The line of the first 一、 heading: the title is looked for above it."""
    for line in layout.lines:
        if line.text and len(line.text) < 200:
            head = top_heading(line, None)
            if head and head.number == 1:
                return line.index
    return len(layout.lines)


def _title_or_intro_year(
    title: meta.Title | None, lines: list[Line], body_line: int, first_heading: int
) -> int | None:
    if title:
        year = meta.year_of(title.text)
        if year:
            return year
    return meta.intro_year(lines, body_line, min(first_heading, body_line + 20))


def _fallback_year(plans_at: Region | None, lines: list[Line]) -> int | None:
    if plans_at and plans_at.heading:
        year = meta.year_of(plans_at.heading)
        if year:
            return year - 1
    return meta.signature_year(lines)


def _unit(title: meta.Title | None, lines: list[Line]) -> str | None:
    unit = meta.unit_from_title(title.text, lines, title.line) if title else None
    unit = unit or meta.unit_from_signature(lines)
    return meta.fullest_unit(unit, lines, title.line if title else None) if unit else None


# --- locating the parts -------------------------------------------------------------------


def _plan_region(outline: Outline) -> Region | None:
    for section in outline.sections:
        category = section.heading.category
        if category not in ("plans", "both", "problems"):
            continue
        nested = _nested(outline, section, ("plans", "both")) if category != "plans" else None
        if category == "both" and nested:
            return _region(nested)
        if category == "both":
            start, end = _split_both(outline, section)[1]
            return Region(section.heading.printed, start, end)
        if category == "plans":
            return _region(section)
        if category == "problems" and nested:
            return _region(nested)
    return _nested_anywhere(outline)


def _problem_region(outline: Outline) -> Region | None:
    for section in outline.sections:
        category = section.heading.category
        if category not in ("problems", "both"):
            continue
        plan = _nested(outline, section, ("plans", "both"))
        # Only a section that also holds the plans has a nested （一）存在问题 heading; in a
        # plain problems section （一）（二） are the problems themselves.
        nested = _nested(outline, section, ("problems",)) if plan or category == "both" else None
        if nested:
            return _region(nested)
        if plan:
            top = outline.layout.lines[plan.heading.line].start
            return Region(section.heading.printed, section.start, max(section.start, top))
        if category == "both":
            start, end = _split_both(outline, section)[0]
            return Region(section.heading.printed, start, end)
        return _region(section)
    return None


def _region(section: Section) -> Region:
    return Region(section.heading.printed, section.start, section.end)


def _nested(outline: Outline, section: Section, categories: tuple[str, ...]) -> Section | None:
    return next((s for s in outline.subsections(section) if s.heading.category in categories), None)


def _nested_anywhere(outline: Outline) -> Region | None:
    """A （N）下一步打算 heading in a report whose top level did not name a plan section."""
    for section in outline.sections:
        if section.heading.kind == "sub":
            break  # （一） is already the top level: nothing nests under it
        nested = _nested(outline, section, ("plans", "both"))
        if nested:
            return _region(nested)
    if outline.sections:
        return None
    layout = outline.layout
    for line in layout.lines:
        head = sub_heading(line, outline.report_year) if len(line.raw) < 200 else None
        if head and head.category in ("plans", "both"):
            return Region(head.printed, head.body_start, len(layout.text))
    return None


def _split_both(outline: Outline, section: Section) -> tuple[tuple[int, int], tuple[int, int]]:
    """(problems, plans) spans of a 存在问题和下一步打算 section without subheadings: the plans
    start at the paragraph that turns to the future (下一步，…), or at a second list."""
    layout = outline.layout
    paras = layout.paragraphs(section.start, section.end, starts_with_marker)
    turn = next(
        (a for a, b in paras[1:] if _PLAN_TURN_RE.match(layout.text, a, min(b, a + 20))), None
    )
    if turn is None:
        ones = [m for m in scan_markers(layout.text, section.start, section.end) if m.number == 1]
        second = [m for m in ones[1:] if m.para_start]
        turn = second[0].start if second else section.start
    return (section.start, turn), (turn, section.end)


# --- plans --------------------------------------------------------------------------------


def _plans(layout: Layout, region: Region | None) -> tuple[PlanItem, ...]:
    if region is None:
        return ()
    return tuple(_plan_item(layout, item) for item in _plan_items(layout, region))


def _plan_items(layout: Layout, region: Region) -> list[Item]:
    _, items = find_marked_items(layout, region.start, region.end)
    if items:
        return items
    items = find_unmarked_items(layout, region.start, region.end)
    if len(items) == 1 and not items[0].marker:
        parts = split_paragraph(layout.text, items[0].start, items[0].end, "；;")
        return [Item("", a, b) for a, b in parts]
    return items


def _plan_item(layout: Layout, item: Item) -> PlanItem:
    text = layout.text[item.start : item.end]
    _, lead_end = lead_span(layout, item.start, item.end)
    return PlanItem(
        marker=item.marker,
        lead=lead_text(layout, item.start, item.end),
        text=text,
        measures=fields.measures(text, lead_end - item.start),
        time_phrase=fields.time_phrase(text),
        office=fields.office(text),
        start=item.start,
        end=item.end,
    )


# --- problems -----------------------------------------------------------------------------


def _problems(layout: Layout, region: Region | None) -> tuple[ProblemItem, ...]:
    if region is None:
        return ()
    _, items = find_marked_items(layout, region.start, region.end)
    if not items:
        items = find_unmarked_items(layout, region.start, region.end)
        if len(items) == 1 and not items[0].marker:
            items = [Item("", a, b) for a, b in _split_problems(layout.text, items[0])]
    return tuple(
        ProblemItem(
            marker=item.marker,
            lead=lead_text(layout, item.start, item.end),
            text=layout.text[item.start : item.end],
            start=item.start,
            end=item.end,
        )
        for item in items
    )


def _split_problems(text: str, item: Item) -> list[tuple[int, int]]:
    """One unnumbered paragraph of problems: its ；-parts, else its sentences, else its
    ，-clauses; a lead-in ending in ： is not a problem."""
    start = item.start
    lead_in = _LEAD_IN_RE.match(text, start, item.end)
    if lead_in and lead_in.end() < item.end:
        start = lead_in.end()
    for breaks in ("；;", "。！？!?", "，,"):
        parts = split_paragraph(text, start, item.end, breaks)
        if len(parts) > 1:
            return parts
    return [trim(text, start, item.end)]


# --- achievements -------------------------------------------------------------------------


def _achievements(outline: Outline, body_start: int) -> tuple[AchievementSection, ...]:
    sections = outline.sections
    stop = next(
        (i for i, s in enumerate(sections) if s.heading.category in ("problems", "plans", "both")),
        len(sections),
    )
    chosen = [s for s in sections[:stop] if s.heading.category == "achievements"]
    substantive = [s for s in chosen if not _OVERVIEW_RE.search(s.heading.words)]
    chosen = substantive or chosen  # 一、基本情况 before 二、主要做法和成效 is not an achievement
    if len(chosen) > 1:
        return tuple(
            _thematic(outline.layout, s, details=i < _MAX_DETAILED) for i, s in enumerate(chosen)
        )
    if chosen:
        start, end = chosen[0].start, chosen[0].end
    elif sections and stop == 0:
        start = body_start
        end = outline.layout.lines[sections[0].heading.line].start
    else:
        return ()
    return _subsections(outline.layout, start, end, chosen[0] if chosen else None)


def _thematic(layout: Layout, section: Section, details: bool = True) -> AchievementSection:
    text = layout.text[section.start : section.end].strip()
    return AchievementSection(
        marker=section.heading.marker,
        heading=section.heading.words,
        text=text,
        items=_achievement_items(layout, section.start, section.end, None) if details else (),
        facts=fields.facts(text) if details else (),
    )


def _subsections(
    layout: Layout, start: int, end: int, section: Section | None
) -> tuple[AchievementSection, ...]:
    kind, items = find_marked_items(layout, start, end, trim_tail=False)
    if not items:
        items = [
            i
            for i in find_unmarked_items(layout, start, end)
            if has_bold_lead(layout, i.start, i.end)
        ]
    if len(items) < 2 and section is not None:
        return (_thematic(layout, section),)
    result = []
    for item in items:
        text = layout.text[item.start : item.end]
        result.append(
            AchievementSection(
                marker=item.marker,
                heading=_sentence_lead(text),
                text=text,
                items=_achievement_items(layout, item.start, item.end, kind),
                facts=fields.facts(text),
            )
        )
    return tuple(result)


def _achievement_items(
    layout: Layout, start: int, end: int, exclude: str | None
) -> tuple[AchievementItem, ...]:
    _, items = find_marked_items(layout, start, end, exclude=exclude, trim_tail=False)
    out = []
    for item in items:
        text = layout.text[item.start : item.end]
        lead = lead_text(layout, item.start, item.end)
        out.append(AchievementItem(item.marker, lead, text, fields.facts(text)))
    return tuple(out)


def _sentence_lead(text: str) -> str:
    for i, ch in enumerate(text):
        if ch in "。：:\n" or i >= 60:
            return text[:i].strip()
    return text.strip()
