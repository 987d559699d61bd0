"""The scheduler: its tick plans and delivers, and only one scheduler leads at a time."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from app.clock import utcnow
from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.core.timefmt import local_today
from app.models import Outbox
from app.scheduler import HEARTBEAT_FILE, LeaderLock, build_scheduler, tick
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
    assert Path(app.instance_path, HEARTBEAT_FILE).read_text(encoding="utf-8")


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
    assert os.path.exists(os.path.join(app.instance_path, HEARTBEAT_FILE))


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
