"""Reminders: plan what is due into the outbox (once, by key), then deliver pending rows.

The outbox is the truth. Planning inserts rows with an idempotency key under a UNIQUE
constraint and ignores the ones that exist, so a sweep run twice, two schedulers or a manual run
beside the scheduler never plan anything twice. Delivery claims rows a batch at a time with a
conditional UPDATE … RETURNING (pending → sending: each row comes back to exactly one sweep) and
commits each row's outcome on its own, right after its send (the argument is at "delivery").
"""

from __future__ import annotations

import json
import logging
import select as io_select
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import get_args

from sqlalchemy import Connection, Engine, Update, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from app.core import lifecycle
from app.core.lifecycle import OPEN_STATUSES, STATUS_LABELS, TaskStatus
from app.core.reminder_policy import (
    ReminderDue,
    ReminderPolicy,
    TaskFacts,
    monthly_summary_due,
    weekly_digest_due,
)
from app.core.reminder_policy import reminders_due as policy_reminders_due
from app.core.timefmt import local_today, to_local
from app.core.workdays import Recurrence, WorkCalendar
from app.models import Office, Outbox, ProgressUpdate, Task, TaskCooperatingOffice, User, UserRole
from app.notify.digest import (
    DigestTask,
    Notice,
    build_notice_message,
    calendar_warning,
    weekly_digest,
)
from app.notify.email import ReminderMail, build_message, date_line, flatten, subject_for
from app.services import review as review_service

log = logging.getLogger(__name__)
EMAIL, WECOM, DINGTALK = "email", "wecom", "dingtalk"
ROBOT_CHANNELS = (WECOM, DINGTALK)
REMINDER, DIGEST, SUMMARY, NOTICE = "reminder", "digest", "summary", "notice"
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
MAX_ATTEMPTS = 8
_OPEN = [TaskStatus.ASSIGNED.value, TaskStatus.IN_PROGRESS.value]
RECURRENCES = list(get_args(Recurrence))
INSERT_CHUNK = 1000  # rows a statement: 14 parameters each, far below every database's limit


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
    # IN over the known values, not IS NOT NULL: only then does the (recurrence, status) index
    # narrow the read to recurring duties instead of every open task.
    recurring = select(Task).where(Task.recurrence.in_(RECURRENCES), Task.status.in_(_OPEN))
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
    policy: ReminderPolicy, timezone: str, base_url: str, from_address: str | None = None,
    domain: str | None = None,
) -> PlanResult:  # fmt: skip
    """Write every reminder due today to the outbox, once per key. Given the sender
    (FROM_ADDRESS, DOMAIN: what deliver_pending will be given), each row also holds its
    message, rendered now (_render), so that delivery only stamps the Date and sends it."""
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
                "message": _render(
                    lambda mail=mail: build_message(mail, sender=from_address, domain=domain,
                                                    now=now, dated=False),
                    from_address, domain, recipient,
                ),
                "idempotency_key": reminder.key(recipient)[:255], "status": PENDING,
                "attempts": 0, "next_attempt_at": now, "created_at": now,
            })  # fmt: skip
    return PlanResult(due, _insert_new(session, rows))


def _render(build, from_address: str | None, domain: str | None, recipient: str) -> bytes | None:
    """The message BUILD() makes (without a Date header), flattened for SMTP, to be stored in
    its outbox row; None when the sender is not known here, or an address is not ASCII (such
    a mail needs SMTPUTF8 and a flattening of its own: smtplib's send_message does both), or
    it cannot be built (delivery then fails the row with the reason)."""
    if not (from_address and domain and from_address.isascii() and recipient.isascii()):
        return None
    try:
        return flatten(build())
    except ValueError:
        return None


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
    """INSERT … ON CONFLICT DO NOTHING on the idempotency key; the number of new rows.

    In chunks: one statement for thousands of rows would pass PostgreSQL's 65,535 bind
    parameters (and a stock SQLite's 32,766), and then every sweep would fail."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        statement = insert(Outbox).values(rows[start : start + INSERT_CHUNK])
        result = session.execute(
            statement.on_conflict_do_nothing(index_elements=["idempotency_key"]),
            execution_options={"preserve_rowcount": True},  # psycopg says -1 otherwise
        )
        inserted += max(result.rowcount or 0, 0)
    session.flush()
    return inserted


# -- digests, summaries, notices ----------------------------------------------------------------


def _days_note(today: date, deadline: date, calendar: WorkCalendar) -> str:
    left = calendar.workdays_between(today, deadline)
    return f"距时限还有{left}个工作日" if left >= 0 else f"已逾期{-left}个工作日"


def _notice_rows(notice: Notice, recipients, *, now, office_id=None, key_prefix: str,
                 from_address: str | None = None, domain: str | None = None) -> list:  # fmt: skip
    body = notice.to_json()
    return [
        {
            "channel": channel, "kind": notice.kind, "task_id": None, "office_id": office_id,
            "recipient": recipient[:254], "subject": notice.subject[:255], "body": body,
            "message": _render(
                lambda recipient=recipient: build_notice_message(
                    notice, to=(recipient[:254],), sender=from_address, domain=domain, now=now,
                    dated=False,
                ), from_address, domain, recipient,
            ) if channel == EMAIL else None,
            "idempotency_key": f"{key_prefix}:{recipient}"[:255],
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
        }
        for channel, recipient in recipients
    ]  # fmt: skip


def _existing_keys(session: Session, prefix: str) -> set[str]:
    query = select(Outbox.idempotency_key).where(Outbox.idempotency_key.startswith(prefix))
    return set(session.exec(query))


def _office_recipients(office: Office, members: dict[int, list[str]]) -> list[tuple[str, str]]:
    """An office's e-mail (its mailbox, else its members) and its robots."""
    emails = [office.mailbox] if office.mailbox else members.get(office.id, [])
    found = [(EMAIL, e) for e in emails]
    if office.wecom_webhook:
        found.append((WECOM, f"office:{office.id}"))
    if office.dingtalk_webhook and office.dingtalk_secret:
        found.append((DINGTALK, f"office:{office.id}"))
    return found


def plan_weekly_digests(
    session: Session, *, now: datetime, now_local: datetime, calendar: WorkCalendar,
    policy: ReminderPolicy, base_url: str, from_address: str | None = None,
    domain: str | None = None,
) -> int:  # fmt: skip
    """Each office's open tasks, red and yellow first, on the week's first working day.

    The digest is worded once per office and week: offices that already have one are skipped
    before any task is read, so the sweeps after Monday 09:00 cost one indexed lookup."""
    week_of = weekly_digest_due(now_local, policy, calendar)
    if week_of is None:
        return 0
    prefix = f"digest:{week_of.isoformat()}:"
    done = {int(key.split(":")[2]) for key in _existing_keys(session, prefix)}
    offices = [o for o in session.exec(select(Office).where(Office.is_active))
               if o.id not in done]  # fmt: skip
    if not offices:
        return 0
    tasks = _open_tasks_by_office(session, [o.id for o in offices])
    members = _member_emails(session, [o.id for o in offices])
    today, rows = now_local.date(), []
    for office in offices:
        items = [
            DigestTask(t.id, t.title, t.deadline, STATUS_LABELS[TaskStatus(t.status)],
                       lifecycle.light(t.status, t.deadline, today, calendar).value,
                       _days_note(today, t.deadline, calendar))
            for t in tasks.get(office.id, [])
        ]  # fmt: skip
        if not items:
            continue  # nothing open: no mail
        notice = weekly_digest(office.name, week_of, items, base_url)
        for channel, recipient in _office_recipients(office, members):
            rows += _notice_rows(notice, [(channel, recipient)], now=now, office_id=office.id,
                                 key_prefix=f"{prefix}{office.id}:{channel}",
                                 from_address=from_address, domain=domain)  # fmt: skip
    return _insert_new(session, rows)


def _open_tasks_by_office(session: Session, office_ids: list[int]) -> dict[int, list[Task]]:
    """Open tasks each office leads or cooperates on."""
    open_values = [s.value for s in OPEN_STATUSES]
    found: dict[int, list[Task]] = {}
    lead = select(Task).where(Task.lead_office_id.in_(office_ids), Task.status.in_(open_values))
    for task in session.exec(lead):
        found.setdefault(task.lead_office_id, []).append(task)
    cooperating = (
        select(TaskCooperatingOffice.office_id, Task)
        .join(Task, Task.id == TaskCooperatingOffice.task_id)
        .where(TaskCooperatingOffice.office_id.in_(office_ids), Task.status.in_(open_values))
    )
    for office_id, task in session.exec(cooperating):
        found.setdefault(office_id, []).append(task)
    return found


def _member_emails(session: Session, office_ids: list[int]) -> dict[int, list[str]]:
    rows = session.exec(
        select(User.office_id, User.email)
        .where(User.office_id.in_(office_ids), User.is_active, User.email.is_not(None))
        .order_by(User.id)
    )  # fmt: skip
    found: dict[int, list[str]] = {}
    for office_id, email in rows:
        found.setdefault(office_id, []).append(email)
    return found


def _role_emails(session: Session, role: str) -> list[str]:
    rows = session.exec(
        select(User.email).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role, User.is_active, User.email.is_not(None))
    )  # fmt: skip
    return sorted(set(rows))


def plan_leader_summary(
    session: Session, *, now: datetime, now_local: datetime, calendar: WorkCalendar,
    policy: ReminderPolicy, base_url: str, from_address: str | None = None,
    domain: str | None = None,
) -> int:  # fmt: skip
    """The month's progress to every leader, on the month's first working day: the progress
    review (进度通报) as of that day, worded once for all of them."""
    month_of = monthly_summary_due(now_local, policy, calendar)
    if month_of is None:
        return 0
    prefix = f"summary:{month_of.isoformat()}:"
    done = _existing_keys(session, prefix)
    leaders = [e for e in _role_emails(session, "leader") if f"{prefix}email:{e}"[:255] not in done]
    if not leaders:
        return 0
    figures = review_service.load_figures(session, as_of=now_local.date(), calendar=calendar,
                                          tz=now_local.tzinfo or UTC)  # fmt: skip
    notice = review_service.review_notice(
        figures, key=f"summary.{month_of.isoformat()}", base_url=base_url,
        subject=f"【月度进展】{month_of.year}年{month_of.month}月法治政府建设任务落实情况",
    )  # fmt: skip
    rows = _notice_rows(notice, [(EMAIL, e) for e in leaders], now=now,
                        key_prefix=f"{prefix}email", from_address=from_address,
                        domain=domain)  # fmt: skip
    return _insert_new(session, rows)


def warn_unknown_year(
    session: Session, *, now: datetime, today: date, calendar: WorkCalendar, base_url: str,
    from_address: str | None = None, domain: str | None = None,
) -> int:  # fmt: skip
    """Once per year and admin: the calendar has no holidays for this year, so reminders fall
    back to Monday–Friday until somebody imports them."""
    if calendar.is_known(today.year):
        return 0
    admins = _role_emails(session, "admin")
    if not admins:
        log.warning(
            "工作日历缺少%s年的节假日安排，且没有填写邮箱的系统管理员可以提醒。", today.year
        )
        return 0
    notice = calendar_warning(today.year, base_url)
    return _insert_new(session, _notice_rows(
        notice, [(EMAIL, e) for e in admins], now=now,
        key_prefix=f"notice:calendar:{today.year}:email", from_address=from_address,
        domain=domain,
    ))  # fmt: skip


@dataclass(frozen=True)
class SweepPlan:
    due: list[ReminderDue]
    planned: int  # new reminder rows
    digests: int
    summaries: int
    notices: int


def plan_sweep(
    session: Session, *, now: datetime, calendar: WorkCalendar, policy: ReminderPolicy,
    timezone: str, base_url: str, from_address: str | None = None, domain: str | None = None,
) -> SweepPlan:  # fmt: skip
    """Everything a sweep at NOW writes to the outbox: reminders, digests, the leaders'
    summary and the unknown-year notice; the e-mails rendered, given the sender (plan)."""
    now_local = to_local(now, timezone)
    today = now_local.date()
    sender = {"from_address": from_address, "domain": domain}
    result = plan(session, now=now, today=today, calendar=calendar, policy=policy,
                  timezone=timezone, base_url=base_url, **sender)  # fmt: skip
    common = {"now": now, "now_local": now_local, "calendar": calendar, "policy": policy,
              "base_url": base_url, **sender}  # fmt: skip
    return SweepPlan(
        result.due,
        result.planned,
        plan_weekly_digests(session, **common),
        plan_leader_summary(session, **common),
        warn_unknown_year(
            session, now=now, today=today, calendar=calendar, base_url=base_url, **sender
        ),
    )


# -- delivery ---------------------------------------------------------------------------------
#
# Why a row is sent once and never lost, however many sweeps run and wherever one dies:
#
# - Only the sweep whose claim moved a row from pending to sending sends it. The claim is one
#   UPDATE … WHERE id IN (…) AND status = 'pending' RETURNING …, committed before anything is
#   sent. On SQLite it runs inside BEGIN IMMEDIATE (one writer at a time); on PostgreSQL the
#   SELECT that picks the ids skips rows another sweep has locked, and the UPDATE re-checks
#   status = 'pending' on each row as committed by anyone else, so of two sweeps racing for a
#   row exactly one gets it back from RETURNING.
# - Over SMTP, 'sent' is committed at the handover: when the server has the whole message but
#   for its final dot (app.notify.smtp._transaction), and the dot goes only once the commit
#   has. A process killed before that commit leaves the row 'sending' and the server throws
#   the unfinished message away; killed after it, the row says 'sent' and the dot is five
#   bytes away. So a mail is delivered once, whenever a scheduler dies. If the server then
#   refuses the message after all, the row's outcome is rewritten (retry later, or failed).
# - Other channels (robots' webhooks, the .eml files of development) commit their outcome
#   right after the send, so a crash leaves at most the one row being sent in doubt.
# - A row left 'sending' goes out again: at once when a scheduler takes over the leader lock
#   (release_claimed: the lock says nobody else delivers), else after 30 minutes
#   (release_stuck). A sweep that runs out of time, or stops on an error, hands back the rows
#   it claimed and did not send at once (pending again, the try not counted), so no claimed
#   row can wait long enough for release_stuck to give it to another sweep while this one
#   still holds it.
#
# Bookkeeping goes through one connection with SQLAlchemy Core: a claim of up to CLAIM_BATCH
# rows (with the open tasks and the robots' offices read in the same short transaction), then
# one UPDATE and commit per row. No transaction stays open while a message is being sent, so
# on SQLite the web app's writers wait at most for one such statement.

CLAIM_BATCH = 100  # rows claimed by one statement
DELIVERY_BUDGET_SECONDS = 240.0  # a tick comes every 5 minutes: leave it room
_OUTBOX = Outbox.__table__  # Core: a statement per row costs a tenth of the ORM's
_CLAIMED = (_OUTBOX.c.id, _OUTBOX.c.channel, _OUTBOX.c.kind, _OUTBOX.c.recipient,
            _OUTBOX.c.body, _OUTBOX.c.office_id, _OUTBOX.c.attempts,
            _OUTBOX.c.message)  # fmt: skip
_MARKS: dict[tuple[str, ...], Update] = {}


def _mark(columns: tuple[str, ...]) -> Update:
    """UPDATE outbox SET <columns> WHERE id = :row_id, made once per set of columns."""
    statement = _MARKS.get(columns)
    if statement is None:
        statement = _MARKS[columns] = (
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in columns})
        )  # fmt: skip
    return statement


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    skipped: int
    retried: int
    failed: int


def deliver_pending(
    engine: Engine, *, sender, now: datetime, from_address: str, domain: str,
    limit: int | None = None, robots=None, budget_seconds: float = DELIVERY_BUDGET_SECONDS,
) -> DeliveryResult:  # fmt: skip
    """Deliver due outbox rows until none is left, LIMIT rows have been taken, or
    BUDGET_SECONDS have passed (the rest waits for the next sweep). Robot rows wait for a
    sweep that has a ROBOTS sender (app.notify.robots.RobotSender)."""
    channels = [EMAIL, *(ROBOT_CHANNELS if robots is not None else ())]
    context = _Delivery(
        sender, robots, now, from_address, domain, date_line(now),
        getattr(sender, "send_bytes", None),
        (f"<{from_address}>".encode(), f"@{domain}>".encode()),
        bool(getattr(sender, "supports_handover", False)),
    )  # fmt: skip
    counts = {"sent": 0, "skipped": 0, "retried": 0, "failed": 0}
    stop_at = time.monotonic() + budget_seconds
    after, left = 0, limit
    with engine.connect() as connection:
        while (left is None or left > 0) and time.monotonic() < stop_at:
            size = CLAIM_BATCH if left is None else min(CLAIM_BATCH, left)
            batch = _claim(connection, context, channels, after, size)
            if batch is None:
                break  # nothing due is left
            after = batch.last_id
            if left is not None:
                left -= len(batch.rows)
            for index, row in enumerate(batch.rows):
                if time.monotonic() >= stop_at:
                    _release(connection, batch.rows[index:])
                    return DeliveryResult(**counts)
                try:
                    outcome = _deliver_one(connection, row, batch, context)
                except BaseException:
                    # ROW is in doubt and stays 'sending'; the rest surely went nowhere.
                    _release(connection, batch.rows[index + 1 :])
                    raise
                counts[outcome] += 1
    return DeliveryResult(**counts)


@dataclass(frozen=True)
class _Delivery:
    sender: object
    robots: object
    now: datetime
    from_address: str
    domain: str
    date: bytes  # the Date header line of this sweep's mails
    send_bytes: object  # the sender's send_bytes, if it has one: stored messages go that way
    marks: tuple[bytes, bytes]  # what a stored message's headers hold if made for this sender
    handover: bool  # the sender calls on_handover before the final dot (SmtpSender)


@dataclass
class _Row:
    """A claimed outbox row: what delivering it needs."""

    id: int
    channel: str
    kind: str
    recipient: str
    body: str
    office_id: int | None
    attempts: int  # this try included
    message: bytes | None  # rendered when planned, without a Date header
    mail: ReminderMail | None = None  # a reminder's body, read at the claim
    unreadable: str | None = None  # why the body could not be read


@dataclass(frozen=True)
class _Batch:
    rows: list[_Row]  # the claimed rows, by id
    last_id: int  # the highest id looked at: the next claim starts after it
    open_tasks: set[int]  # of the reminders' tasks, those still open
    offices: dict[int, tuple[str | None, str | None, str | None]]  # robots: webhooks, secret


def _claim(connection: Connection, context: _Delivery, channels: list[str], after: int,
           size: int) -> _Batch | None:  # fmt: skip
    """PENDING → SENDING for up to SIZE due rows after id AFTER, for exactly one sweep; the
    claim time is kept for release_stuck. None when no due row is left."""
    with connection.begin():
        ids = list(connection.scalars(
            select(Outbox.id).where(Outbox.status == PENDING,
                                    Outbox.next_attempt_at <= context.now,
                                    Outbox.channel.in_(channels), Outbox.id > after)
            .order_by(Outbox.id).limit(size)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has the write lock already
        ))  # fmt: skip
        if not ids:
            return None
        rows = sorted(
            (_Row(*values) for values in connection.execute(
                update(_OUTBOX).where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.status == PENDING)
                .values(status=SENDING, attempts=_OUTBOX.c.attempts + 1,
                        next_attempt_at=context.now)
                .returning(*_CLAIMED)
            )),
            key=lambda row: row.id,
        )  # fmt: skip
        for row in rows:
            if row.kind == REMINDER:
                try:
                    row.mail = _mail_from_json(row.body)
                except (ValueError, TypeError, KeyError) as error:
                    row.unreadable = f"{type(error).__name__}: {error}"
        task_ids = {row.mail.task_id for row in rows if row.mail is not None}
        open_tasks = set(connection.scalars(
            select(Task.id).where(Task.id.in_(task_ids),
                                  Task.status.in_([s.value for s in OPEN_STATUSES]))
        )) if task_ids else set()  # fmt: skip
        office_ids = {row.office_id for row in rows if row.channel in ROBOT_CHANNELS}
        offices = {
            office_id: (wecom, dingtalk, secret)
            for office_id, wecom, dingtalk, secret in connection.execute(
                select(Office.id, Office.wecom_webhook, Office.dingtalk_webhook,
                       Office.dingtalk_secret).where(Office.id.in_(office_ids))
            )
        } if office_ids else {}  # fmt: skip
    return _Batch(rows, ids[-1], open_tasks, offices)


def _release(connection: Connection, rows: list[_Row]) -> None:
    """Hand back claimed rows this sweep will not send: pending again, the try not counted.
    Best effort: if the database is what failed, release_stuck does it later."""
    if not rows:
        return
    try:
        with connection.begin():
            connection.execute(
                update(Outbox).where(Outbox.id.in_([row.id for row in rows]),
                                     Outbox.status == SENDING)
                .values(status=PENDING, attempts=Outbox.attempts - 1)
            )  # fmt: skip
    except Exception:
        log.exception("could not hand back %d claimed outbox rows; release_stuck will",
                      len(rows))  # fmt: skip


def _deliver_one(connection: Connection, row: _Row, batch: _Batch, context: _Delivery) -> str:
    """Send ROW, then commit its outcome at once: if the process dies between the two, ROW is
    the one row in doubt."""
    from app.notify.smtp import DeliveryError

    sent_values = {"status": SENT, "sent_at": context.now, "last_error": None}
    handover = _Handover(connection, row.id, sent_values)
    try:
        skip_reason = _send(row, batch, context, handover)
    except DeliveryError as error:
        outcome, values = _after_failure(row, error, context.now)
    except _Unworded as error:
        # Nothing was sent, and no later try could word it either: fail it, go on with the rest.
        log.error("outbox row %s cannot be worded as a message: %s", row.id, error.reason)
        outcome, values = "failed", {"status": FAILED, "last_error": error.reason[:2000]}
    else:
        if skip_reason:
            outcome, values = "skipped", {"status": SKIPPED, "last_error": skip_reason}
        elif handover.done:
            return "sent"  # committed at the handover
        else:
            outcome, values = "sent", sent_values
    if handover.done and outcome != "sent":
        values["sent_at"] = None  # refused after all, once it had the whole message
    _commit_outcome(connection, row.id, values)
    return outcome


def _commit_outcome(connection: Connection, row_id: int, values: dict) -> None:
    with connection.begin():
        connection.execute(_mark(tuple(sorted(values))), {"row_id": row_id, **values})


class _Handover:
    """Marks the row 'sent' when SmtpSender calls it, just before a message's final dot.

    On SQLite the mark is committed then and there (a local write of microseconds). On
    PostgreSQL it goes out as a statement of its own, committed by the server as it arrives,
    without waiting for the answer; the callable returned collects that answer once the dot has
    been written. Why: a commit's round trip and WAL flush take ~0.3 ms, and a scheduler killed
    within them, after the server had committed, lost its mail (about one test run in five, at
    two kills in 1,000 mails). Now the UPDATE and the dot leave by two writes in a row, and a
    kill can only lose the mail in the microseconds between them."""

    def __init__(self, connection: Connection, row_id: int, values: dict) -> None:
        self.connection, self.row_id, self.values = connection, row_id, values
        self.done = False

    def __call__(self) -> Callable[[], None] | None:
        settle = _mark_sent_unawaited(self.connection, self.row_id, self.values["sent_at"])
        if settle is None:
            _commit_outcome(self.connection, self.row_id, self.values)
        self.done = True
        return settle


_MARK_SENT = b"UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2"
_SETTLE_TIMEOUT_SECONDS = 30.0


def _mark_sent_unawaited(connection: Connection, row_id: int,
                         sent_at: datetime) -> Callable[[], None] | None:  # fmt: skip
    """Send the UPDATE that marks ROW_ID sent on CONNECTION's PostgreSQL session, as a
    statement of its own (the server commits it), and return what waits for its answer. None
    where this cannot be done (not PostgreSQL, or a transaction is open): commit as usual."""
    from psycopg import pq

    driver = getattr(connection.connection, "driver_connection", None)
    pgconn = getattr(driver, "pgconn", None)
    if pgconn is None or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return None
    pgconn.send_query_params(_MARK_SENT, [sent_at.isoformat().encode(), str(row_id).encode()])
    while pgconn.flush():  # a nonblocking connection: the rest goes when the socket takes it
        io_select.select([pgconn.socket], [pgconn.socket], [], _SETTLE_TIMEOUT_SECONDS)

    def settle() -> None:
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            if not io_select.select([pgconn.socket], [], [], _SETTLE_TIMEOUT_SECONDS)[0]:
                raise TimeoutError("PostgreSQL did not answer the outbox update")
        results = []
        while (result := pgconn.get_result()) is not None:
            results.append(result)
        for result in results:
            if result.status != pq.ExecStatus.COMMAND_OK:
                message = result.error_message.decode("utf-8", "replace")
                raise RuntimeError(f"the outbox update failed: {message}")

    return settle


def _after_failure(row: _Row, error, now: datetime) -> tuple[str, dict]:
    """The outcome of a failed try and the row's new values."""
    values: dict = {"last_error": error.message[:2000]}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:  # a robot's rate limit: not the message's fault, not a try
        values.update(status=PENDING, attempts=max(row.attempts - 1, 0),
                      next_attempt_at=now + timedelta(seconds=max(retry_after, 1)))  # fmt: skip
        return "retried", values
    if error.permanent or row.attempts >= MAX_ATTEMPTS:
        values["status"] = FAILED
        return "failed", values
    values.update(status=PENDING, next_attempt_at=now + _backoff(row.attempts))
    return "retried", values


class _Unworded(Exception):
    """A row's body cannot be made into a message (written by another version of the app)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _send(row: _Row, batch: _Batch, context: _Delivery, handover: _Handover) -> str | None:
    """Hand ROW over to its channel; a reason instead when it must not be sent any more."""
    if row.kind == REMINDER:
        if row.mail is None:
            raise _Unworded(f"无法读取提醒内容：{row.unreadable}")
        if row.mail.task_id not in batch.open_tasks:
            return "任务已办结或撤销，不再提醒。"
        recipients = [*row.mail.to, *row.mail.cc]
        if _send_stored(row, context, recipients, handover):
            return None
        try:
            message = build_message(row.mail, sender=context.from_address,
                                    domain=context.domain, now=context.now)  # fmt: skip
        except ValueError as error:
            raise _Unworded(f"无法生成提醒邮件：{error}") from error
        _send_built(message, context, recipients, handover)
        return None
    try:
        notice = Notice.from_json(row.body)
    except (ValueError, TypeError, KeyError) as error:
        raise _Unworded(f"无法读取通知内容：{type(error).__name__}: {error}") from error
    if row.channel == EMAIL:
        if _send_stored(row, context, [row.recipient], handover):
            return None
        message = build_notice_message(
            notice, to=(row.recipient,), sender=context.from_address, domain=context.domain,
            now=context.now,
        )  # fmt: skip
        _send_built(message, context, [row.recipient], handover)
        return None
    return _send_robot(row, notice, batch.offices.get(row.office_id), context.robots)


def _send_stored(row: _Row, context: _Delivery, recipients: list[str],
                 handover: _Handover) -> bool:  # fmt: skip
    """Send the message stored in ROW, the sweep's Date put in front: the same bytes as
    building it from the body would give, but for the .ics's DTSTAMP (the planning time). False
    when there is none, the sender takes only EmailMessages, or it was rendered for another
    sender (MAIL_FROM changed since): then it is built from the body, as before."""
    raw = row.message
    if raw is None or context.send_bytes is None:
        return False
    end = raw.find(b"\r\n\r\n")
    head = raw[:end] if end >= 0 else b""
    if not all(mark in head for mark in context.marks):
        return False
    _send_raw(context.date + raw, context, recipients, handover)
    return True


def _send_built(message, context: _Delivery, recipients: list[str],
                handover: _Handover) -> None:  # fmt: skip
    """A message built now: as bytes where the sender commits at the handover, else as is."""
    if context.send_bytes is not None and context.handover:
        _send_raw(flatten(message), context, recipients, handover)
    else:
        context.sender.send(message)  # type: ignore[attr-defined]


def _send_raw(raw: bytes, context: _Delivery, recipients: list[str],
              handover: _Handover) -> None:  # fmt: skip
    send_bytes = context.send_bytes
    if context.handover:
        send_bytes(raw, context.from_address, recipients, on_handover=handover)  # type: ignore[operator]
    else:
        send_bytes(raw, context.from_address, recipients)  # type: ignore[operator]


def _send_robot(row: _Row, notice: Notice, office, robots) -> str | None:
    """OFFICE: (WeCom webhook, DingTalk webhook, DingTalk secret) of the row's office, or None."""
    from app.notify.robots import RobotMessage

    wecom, dingtalk, secret = office if office is not None else (None, None, None)
    message = RobotMessage(title=notice.subject, markdown=notice.markdown)
    if row.channel == WECOM:
        if not wecom:
            return "该单位已不再配置企业微信机器人。"
        robots.send_wecom(wecom, message)
        return None
    if not (dingtalk and secret):
        return "该单位已不再配置钉钉机器人。"
    robots.send_dingtalk(dingtalk, secret, message)
    return None


def release_claimed(engine: Engine) -> int:
    """Every row left 'sending' goes back to 'pending'. Only for the holder of the scheduler's
    leader lock as it takes over: nobody else delivers then, so such a row belongs to a sweep
    that died, and its mail never got its final dot (see the notes on delivery above)."""
    with engine.begin() as connection:
        result = connection.execute(
            update(_OUTBOX).where(_OUTBOX.c.status == SENDING).values(status=PENDING)
        )
        return result.rowcount or 0


def release_stuck(engine: Engine, *, now: datetime, older_than: timedelta) -> int:
    """Rows left in 'sending' by a process that died go back to 'pending'."""
    with Session(engine) as session:
        stale = (Outbox.status == SENDING) & (Outbox.next_attempt_at < now - older_than)
        result = session.execute(update(Outbox).where(stale).values(status=PENDING))
        session.commit()
        return result.rowcount or 0
