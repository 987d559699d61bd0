"""Which reminders are due: (tasks, policy, calendar, today) in, reminders out. Pure.

Every rule names the calendar day its reminder belongs to (its *trigger*). A trigger that falls
on a non-working day moves to the next working day. A reminder is due on a working day TODAY when
its trigger's working day is TODAY or one of the few working days before (a sweep that could not
run still catches up), and the task is still in a state the rule is about. The outbox key is
(task, rule, recipient, trigger working day), so however often a sweep runs, each reminder is
sent once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.core.lifecycle import TaskStatus
from app.core.workdays import WorkCalendar

CATCH_UP_WORKDAYS = 2  # how far back a sweep looks for reminders it has not sent


@dataclass(frozen=True)
class ReminderPolicy:
    before_workdays: tuple[int, ...] = (10, 5, 1)
    overdue_every_workdays: int = 3
    submitted_after_workdays: int = 3


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
