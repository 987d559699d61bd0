"""The admin-editable reminder policy and the timing of the weekly digest and monthly summary."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from app.core.lifecycle import TaskStatus
from app.core.reminder_policy import (
    ReminderPolicy,
    TaskFacts,
    first_workday_of_month,
    first_workday_of_week,
    monthly_summary_due,
    parse_policy_form,
    reminders_due,
    weekly_digest_due,
)
from app.core.workdays import WorkCalendar
from tests.core.test_workdays import library_calendar

FLAGS = {"periodic": True, "weekly_digest": True, "monthly_summary": True}


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return library_calendar(range(2021, 2024))


def form(**overrides: str) -> dict[str, str]:
    fields = {"before_workdays": "10、5、1", "overdue_every_workdays": "3",
              "submitted_after_workdays": "3", "send_time": "09:00"}  # fmt: skip
    fields.update(overrides)
    return fields


def test_the_defaults_parse_back_to_the_default_policy() -> None:
    policy, errors = parse_policy_form(form(), FLAGS)
    assert errors == {} and policy == ReminderPolicy()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("10,5,1", (10, 5, 1)), ("1 5 10", (10, 5, 1)), ("3，3；2", (3, 2)), ("", ()), ("60", (60,))],
)
def test_before_days_accept_chinese_and_western_separators(raw: str, expected: tuple) -> None:
    policy, errors = parse_policy_form(form(before_workdays=raw), FLAGS)
    assert errors == {} and policy.before_workdays == expected


@pytest.mark.parametrize(
    ("field", "raw"),
    [("before_workdays", "十"), ("before_workdays", "0"), ("before_workdays", "61"),
     ("before_workdays", "-1"), ("before_workdays", "1,2,3,4,5,6,7"),
     ("overdue_every_workdays", ""), ("overdue_every_workdays", "0"),
     ("overdue_every_workdays", "31"), ("overdue_every_workdays", "2.5"),
     ("submitted_after_workdays", "abc"), ("send_time", "24:00"), ("send_time", "9:60"),
     ("send_time", "九点"), ("send_time", "")],
)  # fmt: skip
def test_wrong_values_are_explained_in_chinese(field: str, raw: str) -> None:
    policy, errors = parse_policy_form(form(**{field: raw}), FLAGS)
    assert policy is None and list(errors) == [field]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in errors[field])


def test_full_width_colon_and_single_digit_hours() -> None:
    policy, _ = parse_policy_form(form(send_time="8：30"), FLAGS)
    assert policy.send_time == time(8, 30)


def test_settings_round_trip_and_damage_keeps_defaults() -> None:
    policy = ReminderPolicy((7, 2), 2, 4, False, False, True, time(8, 15))
    assert ReminderPolicy.from_settings(policy.to_settings()) == policy
    damaged = {"before_workdays": "oops", "overdue_every_workdays": 0, "send_time": "25:00",
               "weekly_digest": "yes", "submitted_after_workdays": 5}  # fmt: skip
    assert ReminderPolicy.from_settings(damaged) == ReminderPolicy(submitted_after_workdays=5)
    assert ReminderPolicy.from_settings(None) == ReminderPolicy()
    assert ReminderPolicy.from_settings(["not", "a", "dict"]) == ReminderPolicy()


def test_the_policy_changes_what_is_due(cal: WorkCalendar) -> None:
    facts = TaskFacts(1, TaskStatus.IN_PROGRESS, date(2022, 6, 17), "o@x.cn", "m@x.cn",
                      report_due=date(2022, 6, 10))  # fmt: skip
    default = {r.rule for r in reminders_due([facts], ReminderPolicy(), date(2022, 6, 10), cal)}
    assert default == {"before-5", "periodic"}
    custom = ReminderPolicy(before_workdays=(3,), periodic=False)
    assert {r.rule for r in reminders_due([facts], custom, date(2022, 6, 14), cal)} == {"before-3"}
    assert reminders_due([facts], custom, date(2022, 6, 10), cal) == []


def test_first_working_days(cal: WorkCalendar) -> None:
    assert first_workday_of_week(date(2022, 11, 30), cal) == date(2022, 11, 28)
    # 国庆: 10-03…07 off, Saturday 10-08 and Sunday 10-09 are make-up working days.
    assert first_workday_of_week(date(2022, 10, 5), cal) == date(2022, 10, 8)
    assert first_workday_of_month(date(2022, 10, 20), cal) == date(2022, 10, 8)
    assert first_workday_of_month(date(2022, 1, 15), cal) == date(2022, 1, 4)  # 元旦 to 01-03
    all_off = WorkCalendar({date(2030, 2, 4) + timedelta(days=i): False for i in range(5)}, {2030})
    assert first_workday_of_week(date(2030, 2, 6), all_off) is None


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [(at(date(2022, 11, 28), 8, 59), None), (at(date(2022, 11, 28), 9), date(2022, 11, 28)),
     (at(date(2022, 11, 29), 7), date(2022, 11, 28)),  # missed Monday: Tuesday morning catches up
     (at(date(2022, 12, 3), 10), None),  # Saturday: nothing is sent
     (at(date(2022, 10, 4), 10), None),  # 国庆 holiday
     (at(date(2022, 10, 8), 8), None), (at(date(2022, 10, 8), 9, 30), date(2022, 10, 8))],
)  # fmt: skip
def test_weekly_digest_timing(cal: WorkCalendar, moment: datetime, expected) -> None:
    assert weekly_digest_due(moment, ReminderPolicy(), cal) == expected


def test_digest_and_summary_can_be_switched_off_and_moved(cal: WorkCalendar) -> None:
    off = ReminderPolicy(weekly_digest=False, monthly_summary=False)
    assert weekly_digest_due(at(date(2022, 11, 28), 10), off, cal) is None
    assert monthly_summary_due(at(date(2022, 11, 1), 10), off, cal) is None
    late = ReminderPolicy(send_time=time(14, 0))
    assert weekly_digest_due(at(date(2022, 11, 28), 13, 59), late, cal) is None
    assert weekly_digest_due(at(date(2022, 11, 28), 14), late, cal) == date(2022, 11, 28)


def test_monthly_summary_timing(cal: WorkCalendar) -> None:
    policy = ReminderPolicy()
    assert monthly_summary_due(at(date(2022, 11, 1), 9), policy, cal) == date(2022, 11, 1)
    assert monthly_summary_due(at(date(2022, 11, 1), 8), policy, cal) is None
    assert monthly_summary_due(at(date(2022, 11, 7), 8), policy, cal) == date(2022, 11, 1)
    assert monthly_summary_due(at(date(2022, 11, 8), 8), policy, cal) is None  # stale by now
    assert monthly_summary_due(at(date(2022, 10, 7), 12), policy, cal) is None  # holiday
    assert monthly_summary_due(at(date(2022, 10, 8), 9), policy, cal) == date(2022, 10, 8)
