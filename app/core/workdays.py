"""Working days on China's statutory calendar, and deadlines from a report's time phrases.

China's working week is Monday to Friday, except that each year the State Council moves days
around: statutory holidays (法定节假日) fall on weekdays, and weekends next to them become
make-up working days (调休上班). Those exceptions are published each November for the next year
only, so a calendar knows some years and not others; for an unknown year it falls back to
Monday-to-Friday and says so, rather than guessing.

Pure: stdlib only. The exceptions come from the database (app/services/holidays.py).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from app.core.holiday_list import HolidayEntry, parse_holiday_lines
from app.core.timefmt import format_date_cn

__all__ = [
    "DeadlineProposal",
    "HolidayEntry",
    "Recurrence",
    "Resolution",
    "WorkCalendar",
    "next_recurring_due",
    "parse_holiday_lines",
    "propose_deadline",
    "resolve_time_phrase",
]

# No deadline or extension spans decades; a longer walk means a bug, not a plan.
MAX_SPAN_DAYS = 366 * 50
_ONE_DAY = timedelta(days=1)

Recurrence = Literal["monthly", "quarterly", "half_yearly"]
RECURRENCE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "half_yearly": 6}
RECURRENCE_LABELS: dict[str, str] = {
    "monthly": "每月",
    "quarterly": "每季度",
    "half_yearly": "每半年",
}


# -- the calendar ---------------------------------------------------------------------------


def is_weekday(day: date) -> bool:
    """Monday to Friday."""
    return day.weekday() < 5


class WorkCalendar:
    """Which days are working days: the recorded exceptions, else Monday to Friday.

    EXCEPTIONS maps a date to whether it is a working day (holidays map to False, 调休 make-up
    days to True); KNOWN_YEARS are the years whose official arrangement has been entered.
    """

    def __init__(
        self, exceptions: Mapping[date, bool] | None = None, known_years: Iterable[int] = ()
    ) -> None:
        self._exceptions: dict[date, bool] = dict(exceptions or {})
        self._sorted_days: list[date] = sorted(self._exceptions)
        self._known_years: frozenset[int] = frozenset(known_years)

    @classmethod
    def from_entries(
        cls, entries: Iterable[HolidayEntry], known_years: Iterable[int] | None = None
    ) -> WorkCalendar:
        """A calendar of ENTRIES; by default every year with an entry counts as known."""
        entries = list(entries)
        years = {e.day.year for e in entries} if known_years is None else known_years
        return cls({e.day: e.is_workday for e in entries}, years)

    @property
    def known_years(self) -> frozenset[int]:
        return self._known_years

    def is_known(self, year: int) -> bool:
        """Whether YEAR's official holidays and make-up days have been entered."""
        return year in self._known_years

    def is_workday(self, day: date) -> bool:
        exception = self._exceptions.get(day)
        return is_weekday(day) if exception is None else exception

    def previous_or_same_workday(self, day: date) -> date:
        """DAY if it is a working day, else the last working day before it."""
        return self._walk_to_workday(day, -_ONE_DAY)

    def next_or_same_workday(self, day: date) -> date:
        """DAY if it is a working day, else the first working day after it."""
        return self._walk_to_workday(day, _ONE_DAY)

    def add_workdays(self, day: date, count: int) -> date:
        """The COUNT-th working day after DAY (before it when COUNT < 0); DAY itself if 0.

        DAY need not be a working day: add_workdays(Saturday, 1) is the next working day.
        """
        if abs(count) > MAX_SPAN_DAYS:
            raise ValueError(f"span of {count} working days is out of range")
        step = _ONE_DAY if count > 0 else -_ONE_DAY
        remaining, walked = abs(count), 0
        while remaining:
            day += step
            walked += 1
            remaining -= self.is_workday(day)
            self._check_span(walked)
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (START, END]; negative, -(working days in (END, START]), if END < START.

        So workdays_between(today, deadline) is the working days left (today excluded, the
        deadline included), and an overdue deadline gives minus the working days overdue.
        add_workdays(d, n) for n >= 0 is always n working days after d by this count.
        Constant in the span: weekdays are counted arithmetically, exceptions by bisection.
        """
        if end < start:
            return -self.workdays_between(end, start)
        count = _weekdays_after(start, end)
        first = bisect_right(self._sorted_days, start)
        last = bisect_right(self._sorted_days, end)
        for day in self._sorted_days[first:last]:
            count += int(self._exceptions[day]) - int(is_weekday(day))
        return count

    def _walk_to_workday(self, day: date, step: timedelta) -> date:
        walked = 0
        while not self.is_workday(day):
            day += step
            walked += 1
            self._check_span(walked)
        return day

    @staticmethod
    def _check_span(walked: int) -> None:
        if walked > MAX_SPAN_DAYS:
            raise ValueError("no working day within the allowed span")


def _weekdays_after(start: date, end: date) -> int:
    """Monday-to-Friday days in (START, END], START <= END."""
    full_weeks, rest = divmod((end - start).days, 7)
    first_weekday = (start.weekday() + 1) % 7
    extra = sum(1 for i in range(rest) if (first_weekday + i) % 7 < 5)
    return full_weeks * 5 + extra


def month_end(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])


# -- time phrases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """What a time phrase means: a due date, or a recurrence with no single due date."""

    due: date | None
    recurrence: Recurrence | None
    explanation: str
    recognised: bool = True


_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_NUMBER_RUN = re.compile("[〇零一二两三四五六七八九十]+")
_YEAR = re.compile(r"((?:19|20|21)\d{2})(?:年度?|(?=Q[1-4]))")
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})[日号]")
_QUARTER = re.compile(r"(?:第([1-4])季|([1-4])季|Q([1-4]))")
_MONTH = re.compile(r"(\d{1,2})月(?:份)?(上旬|中旬|下旬)?")
_TEN_DAY_ENDS = {"上旬": 10, "中旬": 20}
_QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}
# Matched after normalise_phrase, so numerals are digits: 半年一次 reads 半年1次.
_RECURRENCE_WORDS: list[tuple[Recurrence, tuple[str, ...]]] = [
    ("half_yearly", ("每半年", "半年1次", "每年2次")),
    ("quarterly", ("每季", "按季", "逐季", "季度1次")),
    ("monthly", ("每月", "每个月", "按月", "逐月", "月度")),
]
_YEAR_END_WORDS = ("年底", "年末", "年内", "全年", "年终", "本年", "今年", "当年", "年度", "每年")
# What may remain around a named year that still means "by the end of that year" (2023年内).
_YEAR_ONLY_REST = re.compile(r"^[年度内底末终前之以完成]*$")


def normalise_phrase(phrase: str) -> str:
    """Half-width digits and letters, no spaces, Chinese numerals as digits (十二月 → 12月)."""
    text = unicodedata.normalize("NFKC", phrase)
    text = re.sub(r"\s+", "", text).upper()
    return _CN_NUMBER_RUN.sub(lambda m: _chinese_number(m.group()), text)


def _chinese_number(run: str) -> str:
    """六 → 6, 十二 → 12, 三十一 → 31, 二〇二四 → 2024; anything else unchanged."""
    if "十" not in run:
        return "".join(str(_CN_DIGITS[c]) for c in run)
    tens, _, ones = run.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones or tens in ("〇", "零"):
        return run
    return str((_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0))


def resolve_time_phrase(phrase: str | None, plan_year: int) -> Resolution:
    """The deadline a report's time phrase stands for, in PLAN_YEAR unless it names a year.

    The plan year is the year after the report's. Unknown or missing phrases fall back to the
    end of the plan year, and the explanation says that this is a default.
    """
    original = (phrase or "").strip()
    if not original:
        due = date(plan_year, 12, 31)
        return Resolution(due, None, f"未写明时限，默认按计划年度年底（{_cn(due)}）计。", False)
    text = normalise_phrase(original)
    year = plan_year
    named_year = _YEAR.search(text)
    if named_year:
        year = int(named_year.group(1))
        # Keep a 年 so that 2023年底前 reads as 年底前 and 2024年中 as 年中.
        text = text[: named_year.start()] + "年" + text[named_year.end() :]
    resolved = _recurrence(text) or _specific_date(text, year)
    year_only = named_year is not None and _YEAR_ONLY_REST.match(text) is not None
    if resolved is None and (year_only or _year_end_word(text)):
        resolved = (date(year, 12, 31), None, "年底")
    if resolved is None:
        due = date(plan_year, 12, 31)
        return Resolution(
            due, None, f"未能识别时限“{original}”，默认按计划年度年底（{_cn(due)}）计。", False
        )
    due, recurrence, reason = resolved
    if recurrence is not None:
        label = RECURRENCE_LABELS[recurrence]
        return Resolution(
            None, recurrence, f"“{original}”为定期报送（{label}），不设单一截止日期。"
        )
    assert due is not None
    return Resolution(due, None, f"时限“{original}”按{_cn(due)}（{reason}）计。")


_Found = tuple[date | None, Recurrence | None, str]


def _recurrence(text: str) -> _Found | None:
    for recurrence, words in _RECURRENCE_WORDS:
        if any(word in text for word in words):
            return None, recurrence, RECURRENCE_LABELS[recurrence]
    return None


def recurrence_in(text: str) -> Recurrence | None:
    """The periodic reporting duty a commitment states (每月, 每季度, 每半年…), if any."""
    found = _recurrence(normalise_phrase(text))
    return found[1] if found else None


def _specific_date(text: str, year: int) -> _Found | None:
    """The first rule that matches, from the most to the least specific."""
    for rule in (_iso_date, _month_day, _quarter, _half_year, _month):
        found = rule(text, year)
        if found is not None:
            return found
    return None


def _iso_date(text: str, _year: int) -> _Found | None:
    match = _ISO_DATE.search(text)
    due = _safe_date(*(int(g) for g in match.groups())) if match else None
    return (due, None, "指定日期") if due else None


def _month_day(text: str, year: int) -> _Found | None:
    match = _MONTH_DAY.search(text)
    due = _safe_date(year, int(match.group(1)), int(match.group(2))) if match else None
    return (due, None, "指定日期") if due else None


def _quarter(text: str, year: int) -> _Found | None:
    match = _QUARTER.search(text)
    if match is None:
        return None
    quarter = int(next(g for g in match.groups() if g))
    return month_end(year, quarter * 3), None, f"{_QUARTER_NAMES[quarter]}末"


def _half_year(text: str, year: int) -> _Found | None:
    if "上半年" in text:
        return date(year, 6, 30), None, "上半年末"
    if "下半年" in text:
        return date(year, 12, 31), None, "下半年末，即年底"
    if "暑期" in text or "暑假" in text:
        return date(year, 8, 31), None, "暑期结束"
    if "年中" in text:
        return date(year, 6, 30), None, "年中，即6月底"
    return None


def _month(text: str, year: int) -> _Found | None:
    match = _MONTH.search(text)
    if match is None or not 1 <= int(match.group(1)) <= 12:
        return None
    month, part = int(match.group(1)), match.group(2)
    if part in _TEN_DAY_ENDS:
        return date(year, month, _TEN_DAY_ENDS[part]), None, f"{month}月{part}结束"
    return month_end(year, month), None, f"{month}月最后一天"


def _year_end_word(text: str) -> bool:
    return any(word in text for word in _YEAR_END_WORDS)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _cn(day: date) -> str:
    return format_date_cn(day)


# -- deadlines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineProposal:
    """A proposed deadline: the phrase's nominal date moved back to a working day."""

    due: date | None
    recurrence: Recurrence | None
    nominal: date | None
    moved: bool
    calendar_known: bool
    note: str


def unknown_year_note(year: int) -> str:
    return f"{year}年法定节假日安排尚未录入，暂按周一至周五计算工作日，请管理员录入。"


def propose_deadline(
    phrase: str | None, plan_year: int, calendar: WorkCalendar
) -> DeadlineProposal:
    """The deadline for PHRASE: a due date on a non-working day moves back to the last working
    day before it (work is handed in before the break, not after it)."""
    resolution = resolve_time_phrase(phrase, plan_year)
    if resolution.due is None:
        known = calendar.is_known(plan_year)
        note = _join(resolution.explanation, None if known else unknown_year_note(plan_year))
        return DeadlineProposal(None, resolution.recurrence, None, False, known, note)
    nominal = resolution.due
    due = calendar.previous_or_same_workday(nominal)
    moved = due != nominal
    unknown = sorted({y for y in (nominal.year, due.year) if not calendar.is_known(y)})
    moved_note = (
        f"{_cn(nominal)}不是工作日，提前至此前最后一个工作日{_cn(due)}。" if moved else None
    )
    note = _join(resolution.explanation, moved_note, *(unknown_year_note(y) for y in unknown))
    return DeadlineProposal(due, None, nominal, moved, not unknown, note)


def _join(*sentences: str | None) -> str:
    return "".join(s for s in sentences if s)


def next_recurring_due(recurrence: str, after: date, calendar: WorkCalendar) -> date:
    """The first periodic due date strictly after AFTER: the end of the month, quarter or
    half-year, moved back to a working day (so 5月31日, a Sunday, is due on Friday 5月29日)."""
    try:
        months = RECURRENCE_MONTHS[recurrence]
    except KeyError:
        raise ValueError(f"unknown recurrence {recurrence!r}") from None
    year, month = after.year, -(-after.month // months) * months  # end of AFTER's period
    # The period holding AFTER or the next one always answers: a holiday moves a due date back
    # by days, never by a whole period.
    for _ in range(3):
        due = calendar.previous_or_same_workday(month_end(year, month))
        if due > after:
            return due
        year, month = (year + 1, months) if month + months > 12 else (year, month + months)
    raise AssertionError("unreachable: the next period always ends after AFTER")
