"""The scheduler: its tick plans and delivers, and only one scheduler leads at a time."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlmodel import select

from app.clock import utcnow
from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.core.timefmt import local_today
from app.db import session_scope
from app.models import Outbox, SchedulerNode
from app.scheduler import LeaderLock, build_scheduler, plan_due, tick
from tests.conftest import reread
from tests.factories import make_office, make_task, make_unit, make_user


def due_today_task(db) -> None:
    today = local_today(utcnow(), "Asia/Shanghai")
    office = make_office(db, make_unit(db), "司法所", mailbox="sfs@example.cn")
    make_user(db, "owner1", Role.OFFICE, office=office)
    make_task(db, office, "今天到期", deadline=today, status=TaskStatus.IN_PROGRESS)
    make_task(db, office, "昨天到期", deadline=today - timedelta(days=1),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()


def test_tick_plans_delivers_and_beats(app, db) -> None:
    due_today_task(db)
    first = tick(app)
    second = tick(app)
    reread(db)
    rows = db.exec(select(Outbox)).all()
    mail = list(Path(app.instance_path, "mail").glob("*.eml"))
    # Weekends and holidays send nothing; on a working day each due reminder goes out once.
    assert first.sent == len(mail) == len([r for r in rows if r.status == "sent"])
    assert second.sent == 0
    reread(db)
    (node,) = db.exec(select(SchedulerNode)).all()
    assert node.role == "leader" and node.last_tick_at is not None


def test_only_one_leader_at_a_time(app) -> None:
    first, second = LeaderLock(app), LeaderLock(app)
    assert first.acquire()
    try:
        assert not second.acquire()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_the_scheduler_declares_one_job_with_safe_defaults(app) -> None:
    scheduler = build_scheduler(app)
    (job,) = scheduler.get_jobs()
    assert job.id == "reminders" and job.coalesce and job.max_instances == 1
    assert job.misfire_grace_time == 3600
    assert str(scheduler.timezone) == "Asia/Shanghai"


def test_cli_scheduler_once(app, db) -> None:
    due_today_task(db)
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0 and "已发送" in result.output
    reread(db)
    assert db.exec(select(SchedulerNode)).one().last_tick_at is not None


def test_one_tick_drains_more_than_a_batch(app, db, monkeypatch) -> None:
    from app.services import reminders

    monkeypatch.setattr(reminders, "CLAIM_BATCH", 1)
    due_today_task(db)
    result = tick(app)
    reread(db)
    rows = db.exec(select(Outbox)).all()
    # Two due tasks, one mail each at least (on a working day): all out in one tick.
    assert result.sent == len([r for r in rows if r.status == "sent"]) == len(rows)
    assert len(list(Path(app.instance_path, "mail").glob("*.eml"))) == result.sent


def test_a_tick_delivers_messages_rendered_when_planned(app, db) -> None:
    from email import message_from_bytes
    from email.policy import default

    from app.db import session_scope
    from app.notify.backends import mail_domain
    from app.scheduler import deliver_due
    from app.services import reminders, settings
    from app.services.holidays import load_calendar

    due_today_task(db)
    planned_at = utcnow()
    with app.app_context(), session_scope() as session:
        reminders.plan_sweep(
            session, now=planned_at, calendar=load_calendar(session),
            policy=settings.reminder_policy(session), timezone=app.config["TIMEZONE"],
            base_url=app.config["BASE_URL"], from_address=app.config["MAIL_FROM"],
            domain=mail_domain(app.config),
        )  # fmt: skip
    reread(db)
    rows = db.exec(select(Outbox).where(Outbox.channel == "email")).all()
    assert all(row.message for row in rows)  # none at all on a weekend or holiday
    sent_at = planned_at + timedelta(minutes=5)
    with app.app_context():
        result = deliver_due(app, sent_at)
    files = list(Path(app.instance_path, "mail").glob("*.eml"))
    assert result.sent == len(files) == len(rows)
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=default)
        assert message["Date"].datetime.timestamp() == int(sent_at.timestamp())
        assert message["From"].addresses[0].addr_spec == app.config["MAIL_FROM"]


def test_a_new_leader_hands_back_what_a_dead_one_left_half_sent(app, db) -> None:
    """Rows a killed scheduler left 'sending' (its mails never got their final dot) go out at
    the next leader's first tick, not 30 minutes later; while a scheduler holds the lock, a
    one-off tick does nothing at all."""
    from datetime import UTC, date, datetime

    from app.scheduler import lead_once

    monday = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a working day
    office = make_office(db, make_unit(db), "司法所", mailbox="sfs@example.cn")
    for number in range(3):
        make_task(db, office, f"今天到期{number}", deadline=date(2026, 11, 30),
                  status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    with app.app_context(), session_scope() as session:
        plan_due(session, app.config, monday)
    reread(db)
    rows = db.exec(select(Outbox)).all()
    assert len(rows) >= 3
    for row in rows:
        row.status, row.next_attempt_at = "sending", monday  # claimed, then the process killed
    db.commit()
    holder = LeaderLock(app)
    assert holder.acquire()
    try:
        assert lead_once(app, monday) is None
        reread(db)
        assert {row.status for row in db.exec(select(Outbox))} == {"sending"}
    finally:
        holder.release()
    result = lead_once(app, monday)
    reread(db)
    assert result is not None and result.sent == len(rows)
    assert {row.status for row in db.exec(select(Outbox))} == {"sent"}


def test_cli_leaves_delivery_to_a_running_scheduler(app, db) -> None:
    office = make_office(db, make_unit(db), "司法所", mailbox="sfs@example.cn")
    make_task(db, office, "十一月三十日到期", deadline=date(2026, 11, 30),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    holder = LeaderLock(app)
    assert holder.acquire()
    try:
        once = app.test_cli_runner().invoke(args=["scheduler", "--once"])
        sweep = app.test_cli_runner().invoke(args=["send-reminders", "--now",
                                                   "2026-11-30T09:00"])  # fmt: skip
    finally:
        holder.release()
    assert once.exit_code == 1 and "另一个调度进程正在运行" in once.output
    assert sweep.exit_code == 0 and "调度进程正在运行" in sweep.output
    reread(db)
    rows = db.exec(select(Outbox)).all()
    assert rows and all(row.status == "pending" for row in rows)  # planned, not sent


def test_the_lock_is_known_lost_when_its_connection_dies(app) -> None:
    """A database restart ends the lock's session: held() says so, and the lock can be taken
    again once the database answers (on SQLite, an flock, it cannot be lost this way)."""
    from sqlalchemy import text

    from app.db import get_engine, is_sqlite

    lock = LeaderLock(app)
    assert lock.acquire() and lock.held()
    try:
        if is_sqlite(get_engine(app)):
            return
        pid = lock._connection.execute(text("SELECT pg_backend_pid()")).scalar()
        lock._connection.commit()
        with get_engine(app).connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not lock.held()
        lock.release()
        assert lock.acquire() and lock.held()
    finally:
        lock.release()
