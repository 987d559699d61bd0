"""Which reminders are due: (tasks, policy, calendar, today) in, reminders out. Pure.

Every rule names the calendar day its reminder belongs to (its *trigger*). A trigger that falls
on a non-working day moves to the next working day. A reminder is due on a working day TODAY when
its trigger's working day is TODAY or one of the few working days before (a sweep that could not
run still catches up), and the task is still in a state the rule is about. The outbox key is
(task, rule, recipient, trigger working day), so however often a sweep runs, each reminder is
sent once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta

from app.core.lifecycle import TaskStatus
from app.core.workdays import WorkCalendar

CATCH_UP_WORKDAYS = 2  # how far back a sweep looks for reminders it has not sent
# A digest or summary missed on its day (the server was down) still goes out within this many
# working days; after that it would be stale.
PERIODIC_CATCH_UP_WORKDAYS = 4
MAX_BEFORE_WORKDAYS = 60
MAX_EVERY_WORKDAYS = 30


@dataclass(frozen=True)
class ReminderPolicy:
    """What the admin can change (提醒设置); the defaults are the issue's."""

    before_workdays: tuple[int, ...] = (10, 5, 1)
    overdue_every_workdays: int = 3
    submitted_after_workdays: int = 3
    periodic: bool = True  # remind recurring duties (每月/每季度) of their report date
    weekly_digest: bool = True  # each office, the first working day of the week
    monthly_summary: bool = True  # leaders, the first working day of the month
    send_time: time = time(9, 0)  # local time of the digest and the summary

    def to_settings(self) -> dict:
        """A JSON-able dict for the settings table."""
        data = asdict(self)
        data["before_workdays"] = list(self.before_workdays)
        data["send_time"] = self.send_time.strftime("%H:%M")
        return data

    @classmethod
    def from_settings(cls, data: dict | None) -> ReminderPolicy:
        """The policy stored in DATA; a missing or unreadable value keeps its default, so a
        damaged setting can never stop the reminders."""
        policy = cls()
        if not isinstance(data, dict):
            return policy
        fields = {
            "before_workdays": "、".join(str(d) for d in data.get("before_workdays") or [])
            if isinstance(data.get("before_workdays"), list) else None,
            "overdue_every_workdays": data.get("overdue_every_workdays"),
            "submitted_after_workdays": data.get("submitted_after_workdays"),
            "send_time": data.get("send_time"),
        }  # fmt: skip
        for name, raw in fields.items():
            if raw is None:
                continue
            value, error = _PARSERS[name](str(raw))
            if error is None:
                policy = replace(policy, **{name: value})
        for flag in ("periodic", "weekly_digest", "monthly_summary"):
            if isinstance(data.get(flag), bool):
                policy = replace(policy, **{flag: data[flag]})
        return policy


def _parse_before(raw: str) -> tuple[tuple[int, ...] | None, str | None]:
    parts = [p for p in re.split(r"[\s,，、;；]+", raw.strip()) if p]
    if not parts:
        return (), None  # no reminders before the deadline: allowed
    if not all(p.isdigit() for p in parts):
        return None, "请填写以逗号或顿号分隔的整数，例如：10、5、1。"
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[-1] < 1 or days[0] > MAX_BEFORE_WORKDAYS:
        return None, f"提前天数须在 1 至 {MAX_BEFORE_WORKDAYS} 个工作日之间。"
    if len(days) > 6:
        return None, "提前提醒最多设置 6 次。"
    return tuple(days), None


def _parse_every(raw: str) -> tuple[int | None, str | None]:
    raw = raw.strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EVERY_WORKDAYS:
        return None, f"请填写 1 至 {MAX_EVERY_WORKDAYS} 之间的整数（工作日）。"
    return int(raw), None


def _parse_time(raw: str) -> tuple[time | None, str | None]:
    match = re.fullmatch(r"\s*([01]?\d|2[0-3])[:：]([0-5]\d)\s*", raw)
    if not match:
        return None, "请按“时:分”填写 00:00 至 23:59 之间的时间，例如 09:00。"
    return time(int(match.group(1)), int(match.group(2))), None


_PARSERS = {
    "before_workdays": _parse_before,
    "overdue_every_workdays": _parse_every,
    "submitted_after_workdays": _parse_every,
    "send_time": _parse_time,
}


def parse_policy_form(
    fields: dict[str, str], flags: dict[str, bool]
) -> tuple[ReminderPolicy | None, dict[str, str]]:
    """The policy an admin typed, or None and a Chinese message per wrong field."""
    values: dict = {}
    errors: dict[str, str] = {}
    for name, parse in _PARSERS.items():
        value, error = parse(fields.get(name, ""))
        if error:
            errors[name] = error
        else:
            values[name] = value
    if errors:
        return None, errors
    values.update({k: bool(flags.get(k)) for k in ("periodic", "weekly_digest",
                                                    "monthly_summary")})  # fmt: skip
    return ReminderPolicy(**values), {}


# -- the weekly digest and the monthly summary ------------------------------------------------


def first_workday_of_week(day: date, calendar: WorkCalendar) -> date | None:
    """The first working day of DAY's week (Monday to Sunday), None if the week has none."""
    monday = day - timedelta(days=day.weekday())
    return _first_workday(monday, monday + timedelta(days=6), calendar)


def first_workday_of_month(day: date, calendar: WorkCalendar) -> date | None:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return _first_workday(first, last, calendar)


def _first_workday(start: date, end: date, calendar: WorkCalendar) -> date | None:
    day = start
    while day <= end:
        if calendar.is_workday(day):
            return day
        day += timedelta(days=1)
    return None


def _periodic_due(first: date | None, now_local: datetime, send_time: time,
                  calendar: WorkCalendar) -> date | None:  # fmt: skip
    today = now_local.date()
    if first is None or not calendar.is_workday(today) or today < first:
        return None
    if calendar.workdays_between(first, today) > PERIODIC_CATCH_UP_WORKDAYS:
        return None  # too late to be news: wait for the next one
    if today == first and now_local.time() < send_time:
        return None
    return first


def weekly_digest_due(
    now_local: datetime, policy: ReminderPolicy, calendar: WorkCalendar
) -> date | None:
    """The day this week's digest belongs to (its first working day) if the digest is due at
    NOW_LOCAL: from SEND_TIME on that day, or any later working day of the same week when the
    sweep could not run then (the outbox key makes it once). None otherwise."""
    if not policy.weekly_digest:
        return None
    first = first_workday_of_week(now_local.date(), calendar)
    return _periodic_due(first, now_local, policy.send_time, calendar)


def monthly_summary_due(
    now_local: datetime, policy: ReminderPolicy, calendar: WorkCalendar
) -> date | None:
    """Like weekly_digest_due, for the leaders' summary on the month's first working day (sent
    late at most PERIODIC_CATCH_UP_WORKDAYS working days after it)."""
    if not policy.monthly_summary:
        return None
    first = first_workday_of_month(now_local.date(), calendar)
    return _periodic_due(first, now_local, policy.send_time, calendar)


@dataclass(frozen=True)
class TaskFacts:
    """What the policy needs of a task (loaded by the service)."""

    id: int
    status: TaskStatus
    deadline: date
    owner: str | None  # e-mail addresses, where known
    office_mailbox: str | None
    cooperating_mailboxes: tuple[str, ...] = ()
    office_leader: str | None = None
    submitted_on: date | None = None
    report_due: date | None = None  # a recurring duty's next report date, if any


@dataclass(frozen=True)
class ReminderDue:
    task_id: int
    rule: str  # before-10, before-5, before-1, due, overdue, submitted, periodic
    for_day: date  # the working day the reminder belongs to (part of the outbox key)
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    escalated: bool = False

    def key(self, recipient: str) -> str:
        """The outbox idempotency key for one recipient."""
        return f"task:{self.task_id}:{self.rule}:{recipient}:{self.for_day.isoformat()}"


def _addresses(*values: str | None) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return tuple(seen)


def _window(today: date, calendar: WorkCalendar) -> date:
    """The earliest trigger working day a sweep on TODAY still sends."""
    return calendar.add_workdays(today, -CATCH_UP_WORKDAYS)


def _in_window(trigger: date, today: date, calendar: WorkCalendar) -> date | None:
    """TRIGGER's working day if it is due in a sweep on TODAY, else None."""
    working = calendar.next_or_same_workday(trigger)
    return working if _window(today, calendar) <= working <= today else None


def reminders_due(
    tasks: list[TaskFacts], policy: ReminderPolicy, today: date, calendar: WorkCalendar,
    coordinators: tuple[str, ...] = (),
) -> list[ReminderDue]:  # fmt: skip
    """Every reminder due on TODAY; nothing at all on a non-working day."""
    if not calendar.is_workday(today):
        return []
    due: list[ReminderDue] = []
    for task in tasks:
        due.extend(_for_task(task, policy, today, calendar, coordinators))
    return due


def _for_task(
    task: TaskFacts, policy: ReminderPolicy, today: date, calendar: WorkCalendar,
    coordinators: tuple[str, ...],
) -> list[ReminderDue]:  # fmt: skip
    to = _addresses(task.owner, task.office_mailbox)
    found: list[ReminderDue] = []
    if task.status in (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS):
        found += _before(task, policy, today, calendar, to)
        found += _due_and_overdue(task, policy, today, calendar, to, coordinators)
        if policy.periodic:
            found += _periodic(task, today, calendar)
    if task.status == TaskStatus.SUBMITTED and task.submitted_on and coordinators:
        found += _submitted(task, policy, today, calendar, coordinators)
    return [r for r in found if r.to]


def _before(task, policy, today, calendar, to) -> list[ReminderDue]:
    found = []
    for days in policy.before_workdays:
        trigger = calendar.add_workdays(calendar.previous_or_same_workday(task.deadline), -days)
        working = _in_window(trigger, today, calendar)
        if working is not None and working < task.deadline:
            found.append(ReminderDue(task.id, f"before-{days}", working, to,
                                     task.cooperating_mailboxes))  # fmt: skip
    return found


def _due_and_overdue(task, policy, today, calendar, to, coordinators) -> list[ReminderDue]:
    first = calendar.next_or_same_workday(task.deadline)
    if today < first:
        return []
    # The due-day reminder, then one every N working days while overdue: the latest of them.
    elapsed = calendar.workdays_between(first, today)
    step = max(1, policy.overdue_every_workdays)
    latest = calendar.add_workdays(first, elapsed - elapsed % step)
    working = _in_window(latest, today, calendar)
    if working is None:
        return []
    if latest == first:
        return [ReminderDue(task.id, "due", working, to, task.cooperating_mailboxes)]
    cc = _addresses(*task.cooperating_mailboxes, task.office_leader, *coordinators)
    return [ReminderDue(task.id, "overdue", working, to, cc, escalated=True)]


def _periodic(task, today, calendar) -> list[ReminderDue]:
    if task.report_due is None:
        return []
    working = _in_window(task.report_due, today, calendar)
    if working is None:
        return []
    return [ReminderDue(task.id, "periodic", working, _addresses(task.office_mailbox, task.owner))]


def _submitted(task, policy, today, calendar, coordinators) -> list[ReminderDue]:
    step = max(1, policy.submitted_after_workdays)
    waited = calendar.workdays_between(task.submitted_on, today)
    if waited < step:
        return []
    latest = calendar.add_workdays(task.submitted_on, waited - waited % step)
    working = _in_window(latest, today, calendar)
    return [ReminderDue(task.id, "submitted", working, coordinators)] if working else []
