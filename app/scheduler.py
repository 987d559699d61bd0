"""`flask scheduler`: APScheduler 3 in its own process; its one job only ticks.

Web workers never start it. With several processes or hosts, only the holder of the leader lock
delivers (a PostgreSQL advisory lock on a connection of its own, or an flock on a file in the
instance folder for SQLite); the others wait as standbys and take over when the leader dies. The
outbox's keys and claims would keep even two deliverers from sending a mail twice; the lock is
what lets a new leader hand back, at once, the rows a dead one left half-sent
(reminders.release_claimed), instead of after 30 minutes.

A leader whose lock connection breaks (the database restarted) stops at its next tick and goes
back to waiting; it leads again once the database answers and the lock is free. Every process
records itself in scheduler_node, which /healthz reads on every host.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from app.clock import utcnow
from app.db import get_engine, is_sqlite, session_scope
from app.notify.backends import mail_domain, make_sender
from app.services import reminders, scheduler_nodes, settings
from app.services.holidays import load_calendar
from app.services.scheduler_nodes import LEADER, STANDBY

log = logging.getLogger(__name__)
LOCK_KEY = zlib.crc32(b"luoshi.scheduler")
STUCK_AFTER = timedelta(minutes=30)


def node_name() -> str:
    """This process as /healthz shows it: host name and process id."""
    return f"{socket.gethostname()}/{os.getpid()}"[:200]


def tick(app: Flask, now: datetime | None = None, node: str | None = None
         ) -> reminders.DeliveryResult:  # fmt: skip
    """Plan what is due into the outbox, release rows a dead sweep left, deliver pending ones,
    and record the tick (the leader's heartbeat)."""
    with app.app_context():
        now = now or utcnow()
        with session_scope() as session:
            plan_due(session, app.config, now)
        reminders.release_stuck(get_engine(), now=now, older_than=STUCK_AFTER)
        result = deliver_due(app, now)
        scheduler_nodes.beat(get_engine(), node or node_name(), LEADER, now, ticked=True)
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
        try:
            self._connection = self._engine.connect()
            held = self._connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                            {"k": LOCK_KEY}).scalar()  # fmt: skip
            self._connection.commit()
        except SQLAlchemyError:
            self.release()
            raise
        if held:
            return True
        self.release()
        return False

    def held(self) -> bool:
        """Whether the lock is still ours: on PostgreSQL, whether its connection still answers
        (a database restart ends the session, and the lock with it)."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None
        if self._connection is not None:
            with suppress(SQLAlchemyError):  # a broken connection has dropped the lock already
                self._connection.close()  # closing the connection drops the advisory lock
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def build_scheduler(app: Flask, lock: LeaderLock | None = None,
                    node: str | None = None) -> BlockingScheduler:  # fmt: skip
    """The scheduler with its one job, declared in code with a fixed id; with LOCK, the job
    first checks that the lock is still held and stops the scheduler if it is not."""
    scheduler = BlockingScheduler(
        timezone=app.config["TIMEZONE"],
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(
        _leader_tick, "interval", seconds=tick_seconds(app), args=[app, lock, node, scheduler],
        id="reminders", replace_existing=True, next_run_time=utcnow(), coalesce=True,
        max_instances=1, misfire_grace_time=3600,
    )  # fmt: skip
    return scheduler


def tick_seconds(app: Flask) -> int:
    """SCHEDULER_TICK_SECONDS: 300 (every 5 minutes) unless configured."""
    return max(int(app.config["SCHEDULER_TICK_SECONDS"]), 1)


def _leader_tick(app: Flask, lock: LeaderLock | None, node: str | None,
                 scheduler: BlockingScheduler) -> None:  # fmt: skip
    if lock is not None and not lock.held():
        log.warning("the leader lock was lost (database restarted?); back to standby")
        scheduler.shutdown(wait=False)
        return
    tick(app, node=node)


def run(app: Flask) -> None:
    """Wait for the leader lock (as a standby), lead until the lock is lost, wait again; until
    the process is stopped."""
    lock, node = LeaderLock(app), node_name()
    standby_seconds = max(int(app.config["SCHEDULER_STANDBY_SECONDS"]), 1)
    while True:
        _wait_for_leadership(app, lock, node, standby_seconds)
        try:
            build_scheduler(app, lock, node).start()  # returns once the lock is lost
        finally:
            lock.release()


def _wait_for_leadership(app: Flask, lock: LeaderLock, node: str, standby_seconds: int) -> None:
    """Return holding the lock, with the rows a former leader left half-sent handed back."""
    while True:
        try:
            if lock.acquire():
                released = reminders.release_claimed(get_engine(app))
                if released:
                    log.warning("took over: %d outbox rows a former leader left are pending "
                                "again", released)  # fmt: skip
                return
            scheduler_nodes.beat(get_engine(app), node, STANDBY, utcnow())
            log.info("another scheduler holds the lock; waiting %s s", standby_seconds)
        except SQLAlchemyError as error:
            lock.release()
            log.warning("database unavailable (%s); retrying in %s s",
                        type(error).__name__, standby_seconds)  # fmt: skip
        time.sleep(standby_seconds)


def lead_once(app: Flask, now: datetime | None = None) -> reminders.DeliveryResult | None:
    """One tick as the leader (`flask scheduler --once`): None, and nothing done, while another
    scheduler holds the lock."""
    with _as_leader(app) as leading:
        return tick(app, now) if leading else None


def deliver_as_leader(app: Flask, now: datetime) -> reminders.DeliveryResult | None:
    """deliver_due while holding the leader lock (`flask send-reminders`); None, and nothing
    sent, while a scheduler process holds it: that one delivers."""
    with _as_leader(app) as leading:
        return deliver_due(app, now) if leading else None


@contextmanager
def _as_leader(app: Flask) -> Iterator[bool]:
    """The leader lock for one piece of work, if it is free, with the rows a former leader left
    half-sent handed back first; whether it was taken."""
    lock = LeaderLock(app)
    if not lock.acquire():
        yield False
        return
    try:
        reminders.release_claimed(get_engine(app))
        yield True
    finally:
        lock.release()
