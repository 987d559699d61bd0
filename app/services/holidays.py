"""The working-day calendar: the Holiday table, seeded from chinese_calendar and kept by admins.

A row is a day that differs from Monday-to-Friday (a weekday off, or a 调休 weekend worked);
rows that merely confirm Monday-to-Friday are allowed and harmless.

A year counts as *known* when it has at least one Holiday row: every real year has holidays
on weekdays (元旦, 春节, 国庆节), so a year without rows has not been entered. The price of this
simple rule is that entering one day makes the year "known"; the admin page says so and offers
the bulk import for a whole notice at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar
from sqlalchemy import extract
from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.holiday_list import parse_holiday_lines
from app.core.timefmt import format_date_cn
from app.core.workdays import HolidayEntry, WorkCalendar, is_weekday
from app.models import Holiday, User
from app.services import audit

# chinese_calendar's English names, in the words of the State Council's notices.
LIBRARY_NAMES: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
HOLIDAY_FIELDS = ["day", "is_workday", "name"]
CLI_ACTOR = "cli"  # the audit trail's actor when no user acts (flask holidays …)


@dataclass(frozen=True)
class SaveResult:
    added: int
    updated: int
    unchanged: int
    years: tuple[int, ...] = ()  # the years the entries fall in, ascending

    @property
    def changed(self) -> int:
        return self.added + self.updated


# -- the library ----------------------------------------------------------------------------


def library_years() -> range:
    """The years chinese_calendar has data for (2004–2026 in version 1.11.0)."""
    days = chinese_calendar.holidays.keys()
    return range(min(days).year, max(days).year + 1)


def library_entries(year: int) -> list[HolidayEntry]:
    """YEAR's days where chinese_calendar differs from Monday-to-Friday, with Chinese names."""
    entries = []
    day = date(year, 1, 1)
    while day.year == year:
        is_workday = chinese_calendar.is_workday(day)
        if is_workday != is_weekday(day):
            entries.append(HolidayEntry(day, is_workday, _library_name(day, is_workday)))
        day += timedelta(days=1)
    return entries


def _library_name(day: date, is_workday: bool) -> str:
    _, english = chinese_calendar.get_holiday_detail(day)
    name = LIBRARY_NAMES.get(english or "", english or "")
    if is_workday:
        return f"{name}调休" if name else "调休上班"
    return name or "法定节假日"


def seed_from_library(
    session: Session,
    years: Iterable[int],
    *,
    actor: User | None = None,
    ip: str | None = None,
) -> int:
    """Make YEARS agree with chinese_calendar; the number of rows added or corrected.

    Idempotent: a second run finds nothing to change and writes nothing (no audit event
    either). Rows the library does not mention (an admin's own entries) are left alone.
    """
    years = sorted(set(years))
    _refuse_unsupported(years)
    before = {row.day: row for row in _rows_in_years(session, years)}
    added = updated = 0
    for year in years:
        for entry in library_entries(year):
            row = before.get(entry.day)
            if row is None:
                session.add(Holiday(day=entry.day, is_workday=entry.is_workday, name=entry.name))
                added += 1
            elif (row.is_workday, row.name) != (entry.is_workday, entry.name):
                row.is_workday, row.name = entry.is_workday, entry.name
                session.add(row)
                updated += 1
    session.flush()
    if added or updated:
        audit.record(
            session, actor=actor, action="holiday.seed", object_type="holiday",
            after={"years": years, "added": added, "updated": updated, "source": _library_label()},
            ip=ip, actor_login=None if actor else CLI_ACTOR,
        )  # fmt: skip
    return added + updated


def _refuse_unsupported(years: list[int]) -> None:
    if not years:
        raise DomainError("请指定要导入的年份。", "year")
    supported = library_years()
    missing = [y for y in years if y not in supported]
    if missing:
        listed = "、".join(f"{y}年" for y in missing)
        raise DomainError(
            f"内置日历库只有{supported[0]}—{supported[-1]}年的数据，无法导入{listed}；"
            "请按国务院办公厅通知手工录入或批量导入。",
            "year",
        )


def _library_label() -> str:
    return f"chinese_calendar {getattr(chinese_calendar, '__version__', '')}".strip()


# -- reading --------------------------------------------------------------------------------


def _rows_in_years(session: Session, years: list[int]) -> list[Holiday]:
    if not years:
        return []
    query = select(Holiday).where(
        Holiday.day >= date(years[0], 1, 1), Holiday.day <= date(years[-1], 12, 31)
    )
    return [row for row in session.exec(query) if row.day.year in years]


def list_year(session: Session, year: int) -> list[Holiday]:
    """YEAR's rows in date order."""
    query = (
        select(Holiday)
        .where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
        .order_by(Holiday.day)
    )
    return list(session.exec(query))


def known_years(session: Session) -> list[int]:
    """Years with at least one Holiday row (see the module docstring), ascending."""
    year = extract("year", Holiday.day)
    return sorted(int(y) for y in session.exec(select(year).distinct()))


_CALENDAR_ROWS = select(Holiday.day, Holiday.is_workday)


def load_calendar(session: Session) -> WorkCalendar:
    """The whole calendar (a few dozen rows a year, so all of it), read as plain rows through
    the session's connection with a statement built once: every task page loads it."""
    rows = session.connection().execute(_CALENDAR_ROWS).all()
    return WorkCalendar(dict(rows), {day.year for day, _ in rows})


# -- admin changes --------------------------------------------------------------------------


def save_entries(
    session: Session,
    entries: Iterable[HolidayEntry],
    *,
    actor: User | None,
    ip: str | None = None,
) -> SaveResult:
    """Insert or update one row per entry, each change audited with its before and after."""
    entries = list(entries)
    added = updated = unchanged = 0
    for entry in entries:
        name = entry.name.strip()
        row = session.get(Holiday, entry.day)
        if row is not None and (row.is_workday, row.name) == (entry.is_workday, name):
            unchanged += 1
            continue
        before = audit.snapshot(row, HOLIDAY_FIELDS) if row else None
        row = row or Holiday(day=entry.day, is_workday=entry.is_workday)
        row.is_workday, row.name = entry.is_workday, name
        session.add(row)
        session.flush()
        _record(session, "holiday.update" if before else "holiday.create", row, before, actor, ip)
        if before:
            updated += 1
        else:
            added += 1
    return SaveResult(added, updated, unchanged, tuple(sorted({e.day.year for e in entries})))


def import_lines(
    session: Session, text: str, *, actor: User | None, ip: str | None = None
) -> SaveResult:
    """Save every line of TEXT (see app/core/holiday_list.py) or, if any is bad, none."""
    entries = parse_holiday_lines(text)
    if not entries:
        raise DomainError("没有可导入的行：每行应为“日期,类型,名称”。", "lines")
    return save_entries(session, entries, actor=actor, ip=ip)


def delete_entry(session: Session, day: date, *, actor: User | None, ip: str | None = None) -> None:
    """Remove DAY's row, so that the day follows Monday-to-Friday again."""
    row = session.get(Holiday, day)
    if row is None:
        raise DomainError(f"工作日历中没有{format_date_cn(day)}。")
    before = audit.snapshot(row, HOLIDAY_FIELDS)
    session.delete(row)
    session.flush()
    _record(session, "holiday.delete", row, before, actor, ip, after=False)


def _record(
    session: Session,
    action: str,
    row: Holiday,
    before: dict | None,
    actor: User | None,
    ip: str | None,
    *,
    after: bool = True,
) -> None:
    audit.record(
        session, actor=actor, action=action, object_type="holiday",
        object_id=_object_id(row.day), before=before,
        after=audit.snapshot(row, HOLIDAY_FIELDS) if after else None, ip=ip,
        actor_login=None if actor else CLI_ACTOR,
    )  # fmt: skip


def _object_id(day: date) -> int:
    """The date as 20261001: the table's key is a date, the audit trail's object id an int."""
    return day.year * 10000 + day.month * 100 + day.day
