"""`flask scheduler`: APScheduler 3 in its own process; its one job only ticks.

Web workers never start it. With several processes or hosts, only the holder of the leader lock
schedules (a PostgreSQL advisory lock on a connection of its own, or an flock on a file in the
instance folder for SQLite); the others wait as standbys. Even so, the outbox keys make a second
scheduler harmless: this lock saves work, it is not what prevents duplicates.
"""

from __future__ import annotations

import fcntl
import logging
import time
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from app.clock import utcnow
from app.db import get_engine, is_sqlite, session_scope
from app.notify.backends import mail_domain, make_sender
from app.services import reminders, settings
from app.services.holidays import load_calendar

log = logging.getLogger(__name__)
TICK_MINUTES = 5
LOCK_KEY = zlib.crc32(b"luoshi.scheduler")
HEARTBEAT_FILE = "scheduler.heartbeat"


def tick(app: Flask, now: datetime | None = None) -> reminders.DeliveryResult:
    """Plan what is due into the outbox, release rows a dead sweep left, deliver pending ones."""
    with app.app_context():
        now = now or utcnow()
        with session_scope() as session:
            plan_due(session, app.config, now)
        reminders.release_stuck(get_engine(), now=now, older_than=timedelta(minutes=30))
        result = deliver_due(app, now)
        Path(app.instance_path, HEARTBEAT_FILE).write_text(now.isoformat(), encoding="utf-8")
        return result


def plan_due(session: Session, config: Mapping[str, Any], now: datetime) -> reminders.SweepPlan:
    """One sweep's planning with the policy in force (提醒设置)."""
    return reminders.plan_sweep(
        session, now=now, calendar=load_calendar(session),
        policy=settings.reminder_policy(session), timezone=config["TIMEZONE"],
        base_url=config["BASE_URL"],
        # The mails are rendered once, now; delivery only adds the Date and sends the bytes.
        from_address=config["MAIL_FROM"], domain=mail_domain(config),
    )  # fmt: skip


def deliver_due(app: Flask, now: datetime) -> reminders.DeliveryResult:
    """Deliver pending rows by mail and, for offices that have them, by robot."""
    from app.notify.robots import RobotSender

    config = app.config
    with make_sender(config, app.instance_path) as sender, RobotSender() as robots:
        return reminders.deliver_pending(
            get_engine(app), sender=sender, robots=robots, now=now,
            from_address=config["MAIL_FROM"], domain=mail_domain(config),
        )  # fmt: skip


class LeaderLock:
    """Held by at most one scheduler of an installation at a time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._file = None
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free; False when another scheduler holds it."""
        engine = get_engine(self.app)
        if is_sqlite(engine):
            Path(self.app.instance_path).mkdir(parents=True, exist_ok=True)
            self._file = open(Path(self.app.instance_path) / "scheduler.lock", "a+")  # noqa: SIM115
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                self.release()
                return False
        # A connection of its own, outside the pool: the advisory lock lives as long as the
        # connection does, and a pooled one would keep it after "closing".
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._connection = self._engine.connect()
        held = self._connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
        if held.scalar():
            self._connection.commit()
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None
        if self._connection is not None:
            self._connection.close()  # closing the connection drops the advisory lock
            self._connection = None
            self._engine.dispose()


def build_scheduler(app: Flask) -> BlockingScheduler:
    """The scheduler with its one job, declared in code with a fixed id."""
    scheduler = BlockingScheduler(
        timezone=app.config["TIMEZONE"],
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(
        tick, "interval", minutes=TICK_MINUTES, args=[app], id="reminders",
        replace_existing=True, next_run_time=utcnow(), coalesce=True, max_instances=1,
        misfire_grace_time=3600,
    )  # fmt: skip
    return scheduler


def run(app: Flask, standby_seconds: int = 30) -> None:
    """Wait for the leader lock (as a standby), then schedule until stopped."""
    lock = LeaderLock(app)
    while not lock.acquire():
        log.info("another scheduler holds the lock; waiting %s s", standby_seconds)
        time.sleep(standby_seconds)
    try:
        build_scheduler(app).start()
    finally:
        lock.release()
