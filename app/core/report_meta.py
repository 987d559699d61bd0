"""Title, reporting unit and year of a report.

The title is the first line before the body that reads as a report title (…报告, with a year
or 法治 in it); a cover letter's 函 line or a breadcrumb is not one. The unit is the body named
in the title before 关于 or the year, else the title block above it, then widened to the fullest
form printed elsewhere (a 发布机构 field, a signature). The year is the year reported on: the
title's, else the introduction's, else one before the plan heading's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.report_outline import is_date_line, is_furniture, is_org_line
from app.core.report_text import Line

_TITLE_END_RE = re.compile(r"(?:报告|汇报)(?:[（(][^（）()]{1,12}[）)])?$")
_LOOSE_TITLE_RE = re.compile(
    r"(?:20\d\d|[二〇○零]{2}).{0,20}(?:法治|依法).{0,20}(?:情况|工作|总结)$"
)
_FORWARDING_RE = re.compile(r"报送|呈报|上报|报请|转报")
_EXTENSION_RE = re.compile(r"\.(?:docx?|wps|pdf|txt|html?)$", re.IGNORECASE)
_TITLE_LABEL_RE = re.compile(r"^(?:标题|题目|文章标题)\s*[：:]\s*")
_TITLE_WORDS_RE = re.compile(r"20\d\d|[二〇○零]{2}|法治|依法|年度")
_BREADCRUMB = frozenset(">＞»›")
_CN_YEAR_DIGITS = dict(zip("〇○零一二三四五六七八九", "000123456789", strict=True))
_YEAR_RE = re.compile(r"(20\d\d)\s*年|([二〇○零一三四五六七八九]{4})\s*年")
_UNIT_STOP_RE = re.compile(
    r"关于|20\d\d|[二〇○零][〇○零一二三四五六七八九]{3}|法治政府|法治建设|依法行政|年度"
)
_LEADING_YEAR_RE = re.compile(r"^(?:20\d\d|[二〇○零一三四五六七八九]{4})\s*年度?")
_FIELD_RE = re.compile(
    r"(?<![^\s\[【])(?:发布机构|发文机关|发文单位|发布单位|信息来源|来源|承办)\s*[\]】]?\s*[：:]?\s*"
    r"([^\s\[\]【】|｜：:，,]{2,40})"
)
_PARTY_RE = re.compile(r"^中共.{1,20}?(?:委员会|党工委|党委|委)")
_GOVERNMENT_RE = re.compile(r"政府|办事处")
_ORG_END_RE = re.compile(r"(?:人民政府|政府|办事处|委员会|局|委|办公室|办|中心|所|院|队|站)$")
_PLACE_END_RE = re.compile(r"(?:镇|乡|街道|县|区|市|州|旗)$")
_TITLE_SCAN_LINES = 80


@dataclass(slots=True)
class Title:
    text: str
    line: int  # index of the (last) title line


def year_of(s: str) -> int | None:
    """The first year (2021年 or 二〇二一年) in S."""
    match = _YEAR_RE.search(s)
    if match is None:
        return None
    if match.group(1):
        return int(match.group(1))
    digits = "".join(_CN_YEAR_DIGITS[c] for c in match.group(2))
    year = int(digits)
    return year if 1990 <= year <= 2100 else None


def find_title(lines: list[Line], limit: int) -> Title | None:
    """The first title line among LINES[:LIMIT]; a title split over lines is joined."""
    scan = lines[: min(limit, _TITLE_SCAN_LINES)]
    found = _scan_title(scan)
    if found is None and limit < len(lines):
        found = _scan_title(lines[:_TITLE_SCAN_LINES])  # a cover note numbered 一、二、 above it
    return found or _loose_title(scan)


def _scan_title(scan: list[Line]) -> Title | None:
    """The first title; a cover letter's 关于报送…的报告 only when no other title follows."""
    forwarding: Title | None = None
    for i, line in enumerate(scan):
        s = _title_candidate(line.text)
        if s is None:
            continue
        title = None
        if _TITLE_WORDS_RE.search(s) or s.startswith("关于"):
            title = Title(s, line.index)
        else:  # a tail such as 建设情况的报告: join the fragment lines printed just above it
            head = _fragments_above(scan, i)
            if head and _TITLE_WORDS_RE.search(head):
                title = Title(head + s, line.index)
        if title and _FORWARDING_RE.search(title.text):
            forwarding = forwarding or title
        elif title:
            return title
    return forwarding


def _fragments_above(lines: list[Line], i: int) -> str:
    parts: list[str] = []
    for line in reversed(lines[max(0, i - 2) : i]):
        s = line.text
        if not s or len(s) > 40 or is_org_line(s) or is_furniture(s):
            break
        if any(c in _BREADCRUMB or c in "，。；：:,;" for c in s):
            break
        parts.insert(0, s)
    return "".join(parts)


def _loose_title(lines: list[Line]) -> Title | None:
    """A title that does not end in 报告 (…法治政府建设工作情况), as a last resort."""
    for line in lines:
        s = line.text
        if (
            6 <= len(s) <= 50
            and not any(c in _BREADCRUMB or c in "，。；：:,;" for c in s)
            and _LOOSE_TITLE_RE.search(s)
            and not is_furniture(s)
        ):
            return Title(_EXTENSION_RE.sub("", s), line.index)
    return None


def _title_candidate(s: str) -> str | None:
    if not s or len(s) > 90 or any(c in _BREADCRUMB for c in s) or is_furniture(s):
        return None
    s = _EXTENSION_RE.sub("", _TITLE_LABEL_RE.sub("", s)).strip()
    if "。" in s or s.startswith(("一、", "（", "(")) or not _TITLE_END_RE.search(s):
        return None
    return s


def unit_from_title(title: str, lines: list[Line], title_line: int) -> str | None:
    """The reporting body named in TITLE, else in the title block just above it."""
    core = _LEADING_YEAR_RE.sub("", title).removeprefix("关于")
    stop = _UNIT_STOP_RE.search(core)
    named = _government_of(core[: stop.start()] if stop else "")
    if named:
        return named
    block = []
    for line in reversed(lines[max(0, title_line - 4) : title_line]):
        if line.text and not is_org_line(line.text):
            break
        if line.text:
            block.append(line.text)
    if not block:  # the body may be named under the title instead
        below = [line.text for line in lines[title_line + 1 : title_line + 4] if line.text]
        block = [s for s in below[:2] if is_org_line(s)][:1]
    governments = [s for s in block if _GOVERNMENT_RE.search(s)]
    return (governments or block or [None])[0]


def _government_of(prefix: str) -> str | None:
    """PREFIX without a joint party committee (中共…委员会 …人民政府 → …人民政府)."""
    prefix = prefix.strip(" \u3000、，,")
    if "中共" in prefix and _GOVERNMENT_RE.search(prefix):
        parts = [p for p in re.split(r"[\s\u3000、和与]+", prefix) if _GOVERNMENT_RE.search(p)]
        if parts and not parts[-1].startswith("中共"):
            return parts[-1]
        rest = _PARTY_RE.sub("", prefix).strip()
        return rest or None
    return prefix or None


def fullest_unit(unit: str, lines: list[Line], title_line: int | None = None) -> str:
    """The longest name printed in a field (发布机构…) or a signature that contains UNIT.

    A complete name (…人民政府, …局) is only widened at the front (石渠镇人民政府 → 某某县石渠镇
    人民政府); a bare place (云岭乡) may also gain its body's suffix (云岭乡人民政府).
    """
    complete = _ORG_END_RE.search(unit) is not None
    fits = [
        name
        for name in _printed_names(lines, title_line)
        if unit in name
        and len(name) > len(unit)
        and (name.endswith(unit) if complete else _ORG_END_RE.search(name) is not None)
    ]
    # In a joint signature (中共…委员会 over …人民政府) the government is the reporting body.
    governments = [name for name in fits if not _PARTY_RE.match(name)]
    return max(governments or fits, key=len, default=unit)


def _printed_names(lines: list[Line], title_line: int | None) -> list[str]:
    """Names of bodies printed as such: field values (发布机构：…), signatures (over a date, or
    closing the text), and the title block just above the title."""
    names = []
    for line in lines:
        if line.text and len(line.text) <= 200:
            names.extend(m.group(1) for m in _FIELD_RE.finditer(line.text))
    nonblank = [i for i, line in enumerate(lines) if line.text]
    closing = {i for i in nonblank[-3:] if not is_furniture(lines[i].text)}
    block = range(max(0, title_line - 3), title_line) if title_line is not None else range(0)
    for i in nonblank:
        s = lines[i].text
        if is_org_line(s) and (_near_date(lines, i) or i in closing or i in block):
            names.append(s)
    return names


def _near_date(lines: list[Line], i: int) -> bool:
    following = [line.text for line in lines[i + 1 : i + 6] if line.text][:2]
    return any(is_date_line(s) for s in following)


def unit_from_signature(lines: list[Line]) -> str | None:
    """The last signature (a body named just above a date), for reports without a titled unit."""
    for i in range(len(lines) - 1, -1, -1):
        s = lines[i].text
        if s and is_org_line(s) and _near_date(lines, i) and not _PLACE_END_RE.search(s):
            return s
    return None


def intro_year(lines: list[Line], start: int, stop: int) -> int | None:
    """The year reported on as the introduction names it (2021年，… / 2021年度…)."""
    for line in lines[start:stop]:
        s = line.text
        if not s or is_furniture(s) or is_date_line(s):
            continue
        match = re.search(r"(20\d\d)\s*年(?:度|，|,|以来|全年|是|我)", s[:400])
        if match:
            return int(match.group(1))
    return None


def signature_year(lines: list[Line]) -> int | None:
    """One year before the last dated line, unless it is dated late in the year itself."""
    for line in reversed(lines):
        s = line.text
        if s and is_date_line(s):
            year = year_of(s)
            month = re.search(r"年\s*(\d{1,2})\s*月", s)
            if year is None:
                return None
            late = month is not None and int(month.group(1)) >= 10
            return year if late else year - 1
    return None
