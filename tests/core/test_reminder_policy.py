"""The reminder policy, day by day through a real year of China's calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.core.lifecycle import TaskStatus
from app.core.reminder_policy import ReminderPolicy, TaskFacts, reminders_due
from app.core.workdays import WorkCalendar
from tests.core.test_workdays import library_calendar

POLICY = ReminderPolicy()
COORDINATORS = ("coord@example.cn",)


@pytest.fixture(scope="module")
def calendar_2022() -> WorkCalendar:
    return library_calendar(range(2021, 2024))


def task(id_: int, deadline: date, status=TaskStatus.IN_PROGRESS, **extra) -> TaskFacts:
    return TaskFacts(id=id_, status=status, deadline=deadline, owner=f"owner{id_}@example.cn",
                     office_mailbox=f"office{id_}@example.cn",
                     cooperating_mailboxes=("helper@example.cn",),
                     office_leader="leader@example.cn", **extra)  # fmt: skip


def simulate(tasks, calendar, start: date, end: date):
    """Run a sweep every day; keep what a UNIQUE outbox key would keep: (key → day sent)."""
    sent: dict[str, date] = {}
    day = start
    while day <= end:
        for reminder in reminders_due(tasks, POLICY, day, calendar, COORDINATORS):
            for recipient in reminder.to:
                sent.setdefault(reminder.key(recipient), day)
        day += timedelta(days=1)
    return sent


def rules_sent(sent: dict[str, date], task_id: int) -> list[tuple[str, date, date]]:
    """(rule, the working day it belongs to, the day it went out) for one task's owner."""
    rows = []
    for key, day in sent.items():
        _, tid, rule, recipient, for_day = key.split(":", 4)
        if int(tid) == task_id and recipient.startswith("owner"):
            rows.append((rule, date.fromisoformat(for_day), day))
    return sorted(rows, key=lambda r: (r[1], r[0]))


def test_before_due_and_overdue_on_working_days(calendar_2022) -> None:
    # Deadline Friday 2022-06-17.
    sent = simulate(
        [task(1, date(2022, 6, 17))], calendar_2022, date(2022, 5, 1), date(2022, 6, 30)
    )
    rows = rules_sent(sent, 1)
    assert rows[:4] == [
        ("before-10", date(2022, 6, 2), date(2022, 6, 2)),  # 6-3 端午 is a holiday
        ("before-5", date(2022, 6, 10), date(2022, 6, 10)),
        ("before-1", date(2022, 6, 16), date(2022, 6, 16)),
        ("due", date(2022, 6, 17), date(2022, 6, 17)),
    ]
    overdue = [r for r in rows if r[0] == "overdue"]
    assert [r[1] for r in overdue] == [date(2022, 6, 22), date(2022, 6, 27), date(2022, 6, 30)]
    assert all(day.weekday() < 5 for _, _, day in rows)


def test_nothing_during_the_national_day_holiday_and_catch_up_on_the_make_up_day(
    calendar_2022,
) -> None:
    # Deadline Wednesday 2022-10-05, inside the 10-01..07 holiday.
    sent = simulate(
        [task(2, date(2022, 10, 5))], calendar_2022, date(2022, 9, 1), date(2022, 10, 20)
    )
    days = sorted(sent.values())
    assert not [d for d in days if date(2022, 10, 1) <= d <= date(2022, 10, 7)]
    rows = rules_sent(sent, 2)
    due = [r for r in rows if r[0] == "due"]
    assert due == [("due", date(2022, 10, 8), date(2022, 10, 8))]  # Saturday, a 调休 workday
    assert len(sent) == len(set(sent))  # each key once


def test_closed_and_cancelled_tasks_get_nothing(calendar_2022) -> None:
    tasks = [task(3, date(2022, 6, 17), TaskStatus.CLOSED),
             task(4, date(2022, 6, 17), TaskStatus.CANCELLED)]  # fmt: skip
    assert simulate(tasks, calendar_2022, date(2022, 5, 1), date(2022, 7, 31)) == {}


def test_escalation_copies_the_leader_and_coordinator_from_the_first_overdue_reminder(
    calendar_2022,
) -> None:
    item = task(5, date(2022, 6, 17))
    found = reminders_due([item], POLICY, date(2022, 6, 17), calendar_2022, COORDINATORS)
    # Yesterday's before-1 is listed again (a sweep catches up; the outbox key keeps it single).
    on_due_day = [r for r in found if r.for_day == date(2022, 6, 17)]
    assert [(r.rule, r.escalated) for r in on_due_day] == [("due", False)]
    assert "leader@example.cn" not in on_due_day[0].cc
    overdue = reminders_due([item], POLICY, date(2022, 6, 22), calendar_2022, COORDINATORS)
    assert overdue[0].rule == "overdue" and overdue[0].escalated
    assert {"leader@example.cn", "coord@example.cn", "helper@example.cn"} <= set(overdue[0].cc)


def test_submitted_waits_three_working_days_for_the_coordinator(calendar_2022) -> None:
    item = task(6, date(2022, 12, 30), TaskStatus.SUBMITTED, submitted_on=date(2022, 6, 13))
    assert reminders_due([item], POLICY, date(2022, 6, 15), calendar_2022, COORDINATORS) == []
    due = reminders_due([item], POLICY, date(2022, 6, 16), calendar_2022, COORDINATORS)
    assert [(r.rule, r.to) for r in due] == [("submitted", COORDINATORS)]


def test_a_periodic_report_not_made_reminds_the_office(calendar_2022) -> None:
    item = task(7, date(2022, 12, 30), report_due=date(2022, 6, 30))
    due = reminders_due([item], POLICY, date(2022, 6, 30), calendar_2022, COORDINATORS)
    assert [(r.rule, r.to[0]) for r in due] == [("periodic", "office7@example.cn")]


def test_non_working_days_send_nothing(calendar_2022) -> None:
    item = task(8, date(2022, 10, 1))
    assert reminders_due([item], POLICY, date(2022, 10, 3), calendar_2022, COORDINATORS) == []
    assert reminders_due([item], POLICY, date(2022, 10, 16), calendar_2022, COORDINATORS) == []
    # 2022-10-09 was a Sunday but a make-up working day: the due reminder may go out then.
    assert reminders_due([item], POLICY, date(2022, 10, 9), calendar_2022, COORDINATORS)


def test_an_unknown_year_falls_back_to_monday_to_friday() -> None:
    calendar = WorkCalendar({}, set())
    item = task(9, date(2027, 3, 19))  # a Friday
    due = reminders_due([item], POLICY, date(2027, 3, 18), calendar, COORDINATORS)
    assert [r.rule for r in due] == ["before-1"]
    assert reminders_due([item], POLICY, date(2027, 3, 20), calendar, COORDINATORS) == []


def test_a_task_without_addresses_gets_nothing(calendar_2022) -> None:
    item = TaskFacts(10, TaskStatus.IN_PROGRESS, date(2022, 6, 17), None, None)
    assert reminders_due([item], POLICY, date(2022, 6, 17), calendar_2022, COORDINATORS) == []
