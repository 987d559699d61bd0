"""Reminders: plan what is due into the outbox (once, by key), then deliver pending rows.

The outbox is the truth. Planning inserts rows with an idempotency key under a UNIQUE
constraint and ignores the ones that exist, so a sweep run twice, two schedulers or a manual run
beside the scheduler never plan anything twice. Delivery claims each row with a conditional
UPDATE (pending → sending, one row affected or someone else has it) and commits per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from app.core import lifecycle
from app.core.lifecycle import STATUS_LABELS, TaskStatus
from app.core.reminder_policy import ReminderDue, ReminderPolicy, TaskFacts
from app.core.reminder_policy import reminders_due as policy_reminders_due
from app.core.timefmt import local_today
from app.core.workdays import WorkCalendar
from app.models import Office, Outbox, ProgressUpdate, Task, TaskCooperatingOffice, User, UserRole
from app.notify.email import ReminderMail, build_message, subject_for

EMAIL = "email"
REMINDER = "reminder"
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
MAX_ATTEMPTS = 8
_OPEN = [TaskStatus.ASSIGNED.value, TaskStatus.IN_PROGRESS.value]


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most 4 hours, between tries of a transient failure."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 240))


# -- planning ---------------------------------------------------------------------------------


def _candidates(session: Session, today: date, calendar: WorkCalendar, policy: ReminderPolicy):
    """Tasks that can have a reminder today, read through the status+deadline index: open ones
    due within the furthest 'before' reminder, submitted ones, and recurring duties."""
    horizon = calendar.add_workdays(today, max(policy.before_workdays, default=0) + 1)
    open_soon = select(Task).where(Task.status.in_(_OPEN), Task.deadline <= horizon)
    submitted = select(Task).where(Task.status == TaskStatus.SUBMITTED.value)
    recurring = select(Task).where(Task.status.in_(_OPEN), Task.recurrence.is_not(None))
    tasks: dict[int, Task] = {}
    for query in (open_soon, submitted, recurring):
        for task in session.exec(query):
            tasks[task.id] = task
    return list(tasks.values())


def _facts(session: Session, tasks: list[Task], calendar: WorkCalendar, timezone: str):
    ids = [t.id for t in tasks]
    offices = {o.id: o for o in session.exec(select(Office))}
    owners = {u.id: u.email for u in session.exec(select(User).where(User.is_active))}
    cooperating: dict[int, list[str]] = {}
    for task_id, office_id in session.exec(
        select(TaskCooperatingOffice.task_id, TaskCooperatingOffice.office_id).where(
            TaskCooperatingOffice.task_id.in_(ids)
        )
    ):
        if offices[office_id].mailbox:
            cooperating.setdefault(task_id, []).append(offices[office_id].mailbox)
    last_report = dict(
        session.exec(
            select(ProgressUpdate.task_id, ProgressUpdate.created_at)
            .where(ProgressUpdate.task_id.in_([t.id for t in tasks if t.recurrence]))
            .order_by(ProgressUpdate.created_at)
        ).all()
    )  # later rows overwrite earlier ones: the latest report per task
    facts = []
    for task in tasks:
        office = offices[task.lead_office_id]
        report_due = None
        if task.recurrence:
            last = last_report.get(task.id)
            report_due = lifecycle.next_report_due(
                task.recurrence, _local(last, timezone) if last else None,
                _local(task.created_at, timezone), calendar,
            )  # fmt: skip
        facts.append(TaskFacts(
            id=task.id, status=TaskStatus(task.status), deadline=task.deadline,
            owner=owners.get(task.owner_id), office_mailbox=office.mailbox,
            cooperating_mailboxes=tuple(cooperating.get(task.id, [])),
            office_leader=office.leader_email, submitted_on=_local(task.updated_at, timezone)
            if task.status == TaskStatus.SUBMITTED.value else None, report_due=report_due,
        ))  # fmt: skip
    return facts


def _local(moment: datetime, timezone: str) -> date:
    return local_today(moment, timezone)


def coordinator_addresses(session: Session) -> tuple[str, ...]:
    rows = session.exec(
        select(User.email).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "coordinator", User.is_active, User.email.is_not(None))
    )  # fmt: skip
    return tuple(sorted(set(rows)))


@dataclass(frozen=True)
class PlanResult:
    due: list[ReminderDue]
    planned: int  # new outbox rows (the rest existed already)


def plan(
    session: Session, *, now: datetime, today: date, calendar: WorkCalendar,
    policy: ReminderPolicy, timezone: str, base_url: str,
) -> PlanResult:  # fmt: skip
    """Write every reminder due today to the outbox, once per key."""
    tasks = _candidates(session, today, calendar, policy)
    facts = _facts(session, tasks, calendar, timezone)
    due = policy_reminders_due(facts, policy, today, calendar, coordinator_addresses(session))
    by_id = {t.id: t for t in tasks}
    offices = {o.id: o.name for o in session.exec(select(Office))}
    rows = []
    for reminder in due:
        task = by_id[reminder.task_id]
        for recipient in (*reminder.to, *reminder.cc):
            mail = _mail(task, reminder, offices, today, calendar, base_url, recipient)
            rows.append({
                "channel": EMAIL, "kind": REMINDER, "task_id": task.id,
                "office_id": task.lead_office_id,
                "recipient": recipient[:254], "subject": subject_for(mail)[:255],
                "body": json.dumps(_mail_json(mail), ensure_ascii=False),
                "idempotency_key": reminder.key(recipient)[:255], "status": PENDING,
                "attempts": 0, "next_attempt_at": now, "created_at": now,
            })  # fmt: skip
    return PlanResult(due, _insert_new(session, rows))


def _mail(task, reminder, offices, today, calendar, base_url, recipient) -> ReminderMail:
    left = calendar.workdays_between(today, task.deadline)
    note = f"距时限还有{left}个工作日" if left >= 0 else f"已逾期{-left}个工作日"
    return ReminderMail(
        task_id=task.id, task_title=task.title, office_name=offices[task.lead_office_id],
        deadline=task.deadline, rule=reminder.rule, for_day=reminder.for_day,
        link=f"{base_url.rstrip('/')}/tasks/{task.id}", to=(recipient,),
        cc=(), status_label=STATUS_LABELS[TaskStatus(task.status)], days_note=note,
    )  # fmt: skip


def _mail_json(mail: ReminderMail) -> dict:
    data = asdict(mail)
    data["deadline"], data["for_day"] = mail.deadline.isoformat(), mail.for_day.isoformat()
    data["to"], data["cc"] = list(mail.to), list(mail.cc)
    return data


def _mail_from_json(text: str) -> ReminderMail:
    data = json.loads(text)
    data["deadline"] = date.fromisoformat(data["deadline"])
    data["for_day"] = date.fromisoformat(data["for_day"])
    data["to"], data["cc"] = tuple(data["to"]), tuple(data["cc"])
    return ReminderMail(**data)


def _insert_new(session: Session, rows: list[dict]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on the idempotency key; the number of new rows."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = session.execute(
        insert(Outbox).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    session.flush()
    return max(result.rowcount or 0, 0)


# -- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    skipped: int
    retried: int
    failed: int


def deliver_pending(
    engine: Engine, *, sender, now: datetime, from_address: str, domain: str,
    limit: int = 1000, still_open: Callable[[Session, int], bool] | None = None,
) -> DeliveryResult:  # fmt: skip
    """Deliver due outbox rows, each claimed atomically and committed on its own."""
    counts = {"sent": 0, "skipped": 0, "retried": 0, "failed": 0}
    with Session(engine) as session:
        ids = list(session.exec(
            select(Outbox.id).where(Outbox.status == PENDING, Outbox.next_attempt_at <= now)
            .order_by(Outbox.id).limit(limit)
        ))  # fmt: skip
    for outbox_id in ids:
        outcome = _deliver_one(engine, outbox_id, sender, now, from_address, domain)
        if outcome:
            counts[outcome] += 1
    return DeliveryResult(**counts)


def _claim(engine: Engine, outbox_id: int, now: datetime) -> bool:
    """PENDING → SENDING for exactly one sweep; the claim time is kept for release_stuck."""
    with Session(engine) as session:
        result = session.execute(
            update(Outbox).where(Outbox.id == outbox_id, Outbox.status == PENDING)
            .values(status=SENDING, attempts=Outbox.attempts + 1, next_attempt_at=now)
        )  # fmt: skip
        session.commit()
        return result.rowcount == 1


def _deliver_one(engine, outbox_id, sender, now, from_address, domain) -> str | None:
    from app.notify.smtp import DeliveryError

    if not _claim(engine, outbox_id, now):
        return None  # another sweep has it
    with Session(engine) as session:
        row = session.get(Outbox, outbox_id)
        mail = _mail_from_json(row.body)
        task = session.get(Task, mail.task_id)
        if task is None or not lifecycle.is_open(task.status):
            row.status, row.last_error = SKIPPED, "任务已办结或撤销，不再提醒。"
            outcome = "skipped"
        else:
            try:
                sender.send(build_message(mail, sender=from_address, domain=domain, now=now))
                row.status, row.sent_at, row.last_error = SENT, now, None
                outcome = "sent"
            except DeliveryError as error:
                row.last_error = error.message[:2000]
                if error.permanent or row.attempts >= MAX_ATTEMPTS:
                    row.status, outcome = FAILED, "failed"
                else:
                    row.status, outcome = PENDING, "retried"
                    row.next_attempt_at = now + _backoff(row.attempts)
        session.add(row)
        session.commit()
        return outcome


def release_stuck(engine: Engine, *, now: datetime, older_than: timedelta) -> int:
    """Rows left in 'sending' by a process that died go back to 'pending'."""
    with Session(engine) as session:
        stale = (Outbox.status == SENDING) & (Outbox.next_attempt_at < now - older_than)
        result = session.execute(update(Outbox).where(stale).values(status=PENDING))
        session.commit()
        return result.rowcount or 0
