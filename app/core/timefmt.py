"""Dates and times as Chinese users read them (2022年6月30日, Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def format_date_cn(value: date | None) -> str:
    """2022年6月30日 (no zero padding, as in official documents); empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def to_local(value: datetime, timezone: str) -> datetime:
    """VALUE (aware, or naive meaning UTC) in TIMEZONE."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo(timezone))


def format_datetime_cn(value: datetime | None, timezone: str) -> str:
    """2022年6月30日 14:05 in TIMEZONE; empty for None."""
    if value is None:
        return ""
    local = to_local(value, timezone)
    return f"{format_date_cn(local.date())} {local:%H:%M}"


def local_today(now: datetime, timezone: str) -> date:
    """The calendar date in TIMEZONE at the instant NOW."""
    return to_local(now, timezone).date()
