"""The small text format in which admins type or paste a year's holidays and 调休 days.

One day per line: date, kind, name (the name may be left out)::

    日期,类型,名称          ← an optional header line
    # 2027年（国务院办公厅通知）
    2027-01-01,休,元旦
    2027-02-07,班,春节调休

Fields are separated by ',' '，' or a tab (or, when none of these appear, by spaces). Kinds:
休/假/休息/放假/holiday/0 for a day off, 班/上班/补班/workday/1 for a working day. Blank lines
and lines starting with '#' are skipped. Parsing is all-or-nothing: one bad line rejects the
whole text, so that half a notice is never saved.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from app.core.errors import DomainError
from app.core.timefmt import format_date_cn

NAME_MAX_LENGTH = 50  # the width of holiday.name
MAX_LINES = 2000  # a year's notice has about 40 lines; anything far bigger is a wrong paste
MAX_ERRORS_SHOWN = 10

_WORK_WORDS = frozenset({"班", "上班", "补班", "工作日", "调休上班", "workday", "work", "1"})
_REST_WORDS = frozenset(
    {"休", "假", "休息", "休假", "放假", "休息日", "holiday", "rest", "off", "0"}
)
_SEPARATOR = re.compile(r"[,，\t]")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_HEADER_WORDS = ("日期", "date", "day")


@dataclass(frozen=True)
class HolidayEntry:
    """One day that differs from Monday-to-Friday: a day off, or a (make-up) working day."""

    day: date
    is_workday: bool
    name: str = ""


def parse_date(text: str) -> date | None:
    """2027-01-01, 2027/1/1, 2027.1.1 or 2027年1月1日 (full-width digits too); None if not."""
    match = _DATE.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_kind(text: str) -> bool | None:
    """True for a working day, False for a day off, None when the word is not known."""
    word = unicodedata.normalize("NFKC", text).strip().lower()
    if word in _WORK_WORDS:
        return True
    if word in _REST_WORDS:
        return False
    return None


def parse_holiday_lines(text: str) -> list[HolidayEntry]:
    """The entries of TEXT, in input order; DomainError naming every bad line (at most 10)."""
    lines = text.lstrip("\ufeff").splitlines()
    if len(lines) > MAX_LINES:
        raise DomainError(f"一次最多导入{MAX_LINES}行，请分批导入。")
    entries: list[HolidayEntry] = []
    errors: list[str] = []
    first_line_of: dict[date, int] = {}
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        is_first, seen_content = not seen_content, True
        if is_first and _is_header(line):
            continue
        try:
            entry = _parse_line(line)
        except ValueError as problem:
            errors.append(f"第{number}行：{problem}")
            continue
        if entry.day in first_line_of:
            errors.append(
                f"第{number}行：{format_date_cn(entry.day)}与第{first_line_of[entry.day]}行重复"
            )
            continue
        first_line_of[entry.day] = number
        entries.append(entry)
    if errors:
        raise DomainError(_summary(errors))
    return entries


def _is_header(line: str) -> bool:
    first = _split(line)[0].lower()
    return parse_date(first) is None and any(word in first for word in _HEADER_WORDS)


def _split(line: str) -> list[str]:
    if _SEPARATOR.search(line):
        return [field.strip() for field in _SEPARATOR.split(line)]
    return line.split(maxsplit=2)


def _parse_line(line: str) -> HolidayEntry:
    """One entry; ValueError with the problem in Chinese."""
    fields = _split(line)
    if len(fields) > 3:
        raise ValueError("字段过多，应为“日期,类型,名称”三项（名称中请勿使用逗号）")
    if len(fields) < 2 or not fields[1]:
        raise ValueError("缺少类型，应写“休”或“班”")
    day = parse_date(fields[0])
    if day is None:
        raise ValueError(f"无法识别日期“{fields[0]}”，应写作2027-01-01")
    is_workday = parse_kind(fields[1])
    if is_workday is None:
        raise ValueError(f"无法识别类型“{fields[1]}”，应写“休”或“班”")
    name = fields[2] if len(fields) == 3 else ""
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"名称超过{NAME_MAX_LENGTH}个字")
    return HolidayEntry(day=day, is_workday=is_workday, name=name)


def _summary(errors: list[str]) -> str:
    shown = "；".join(errors[:MAX_ERRORS_SHOWN])
    more = len(errors) - MAX_ERRORS_SHOWN
    tail = f"；另有{more}处错误" if more > 0 else ""
    return f"导入失败，未保存任何内容。{shown}{tail}。"
