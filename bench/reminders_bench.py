"""Reminders: one planning sweep at two table sizes, delivery against plain smtplib, a whole run.

The issue: "One planning sweep at 10,000 and at 100,000 open tasks (time to decide what is due:
it should read only what can be due, through an index, so it grows with what is due, not with
the table), and delivery of 1,000 reminders to a local aiosmtpd, as a ratio to plain smtplib
sending the same 1,000 messages over one connection in the same run. Goal: delivery at ≥ 0.8×
plain smtplib; a whole run for 20,000 tasks (plan + deliver) in a few seconds."

Everything runs in this process against temporary databases made by the real migrations (an
SQLite file in a temp dir; also a throwaway PostgreSQL database when BENCH_DATABASE_URL, or
else TEST_DATABASE_URL, names a server), through the app's own engine (app.db.make_engine: the
same pragmas and BEGIN IMMEDIATE as the scheduler) and the public service calls
``reminders.plan`` and ``reminders.deliver_pending``, as ``app.scheduler.tick`` makes them.

1. planning: for each size, N open tasks (assigned or in progress) and N/4 closed or cancelled
   ones, 200 offices with mailboxes and leaders, an owner with an e-mail address per office, a
   coordinator, a cooperating office on every third task. The measured day is a fixed working
   day; the same few tasks at every size can be due on it (NEAR open tasks whose deadlines lie
   from 10 days before to 18 days after it, SUBMITTED tasks awaiting review for a week, and
   RECURRING monthly duties), and every other open task has a deadline spread over the year
   that starts a month later. So what is due is the same at both sizes and only the table
   grows. The figure is the median time of ``plan`` over the rounds (after one warm-up), each
   in its own session, rolled back afterwards so that every round does the same work. One more,
   instrumented, sweep records every statement (SQLAlchemy's before_cursor_execute), the rows
   each SELECT returns, and on SQLite the virtual machine instructions each one ran (a progress
   handler: a measure of the rows it visited, returned or not); then EXPLAIN (QUERY PLAN) of
   every statement that reads the task table.
2. delivery: M reminders (tasks due on the day, planned by ``plan`` with the sender, as the
   scheduler plans them, so each row holds its message rendered; the first M outbox rows)
   sent to an aiosmtpd server in a thread of this process (127.0.0.1, a free port, a handler
   that only counts). First the outbox delivers them once to a sender that keeps the messages
   instead of sending them: that run's time is the outbox's cost without SMTP, and what it
   kept must be the stored messages, with the Message-IDs of the baseline's. The baseline's
   messages are those ``build_message`` makes of the same rows (what the outbox sent before
   it stored them). Then, round after round, plain smtplib sends them over one connection
   (connect, EHLO, send_message each, QUIT), and ``deliver_pending`` sends the same rows,
   reset to pending, with the real SmtpSender (one connection per sweep). The ratio is plain
   time ÷ outbox time (the outbox's speed as a fraction of plain smtplib's; the goal is
   ≥ 0.8). A breakdown per message follows: rendering a message when planning (build_message
   and flattening: planning's cost now, not delivery's), and the bookkeeping (claim, load,
   Date, commit), the whole run without SMTP.
3. whole run: ``demo.synthesize`` (the data set of ``flask demo synth``: its offices given
   mailboxes and leaders, and a coordinator added, otherwise nobody could be reminded), then
   one sweep on its day: ``plan``, committed, then ``deliver_pending`` as a scheduler tick
   calls it (no limit: it goes on until nothing due is left or its time budget is spent),
   again while a call still delivers something, to the same SMTP server.

Nothing passes or fails here; the figures are for reading. Temporary files, databases and the
SMTP server are removed or stopped however the run ends.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import smtplib
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from common import HOST, REPO_ROOT

DAY = date(2025, 3, 12)  # the measured day: a Wednesday, a working day in China's calendar
NOW = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
TIMEZONE = "Asia/Shanghai"
BASE_URL = "http://luoshi.bench.test"
MAIL_FROM = "luoshi@bench.example.cn"
MAIL_DOMAIN = "bench.example.cn"
INDEXES = ("ix_task_status_deadline", "ix_task_recurrence_status")
NEAR_TASKS = 100  # open tasks near their deadline on DAY: the same at every size
SUBMITTED_TASKS = 20
RECURRING_TASKS = 20
FAR_FROM_DAYS = 30  # the other open tasks: deadlines from DAY + 30 days ...
FAR_SPAN_DAYS = 365  # ... over a year
SMTP_TIMEOUT_SECONDS = 30
GOAL_DELIVERY_RATIO = 0.8
SQL_WIDTH = 96
STEP_GRANULARITY = 100  # SQLite progress handler: one call per this many VM instructions
PLAN_SWEEPS_PER_ROUND = 4  # a sweep takes a fraction of a second: more of them, steadier medians


@dataclass(frozen=True)
class RemindersSettings:
    plan_sizes: tuple[int, ...]  # open tasks, smallest first
    offices: int  # of the planning and delivery data sets
    mails: int  # reminders delivered, against plain smtplib
    whole_tasks: int  # the whole run's synthetic data set
    whole_offices: int
    rounds: int


# -- databases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    backend: str  # sqlite or postgresql
    url: str


def postgres_server_url() -> str | None:
    """The PostgreSQL server to use as well as SQLite, if any."""
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or None


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if postgres_server_url() else [])


@contextmanager
def fresh_database(backend: str, name: str) -> Iterator[Database]:
    """An empty database migrated to head by the real migrations; removed afterwards."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="luoshi-bench-reminders-"))
        try:
            database = Database("sqlite", f"sqlite:///{folder / f'{name}.sqlite3'}")
            migrate(database.url)
            yield database
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    server = postgres_server_url()
    assert server is not None
    url = postgres_database(server, f"bench_reminders_{name}_{os.getpid()}")
    try:
        migrate(url)
        yield Database("postgresql", url)
    finally:
        postgres_database(server, f"bench_reminders_{name}_{os.getpid()}", drop_only=True)


def postgres_database(server_url: str, suffix: str, *, drop_only: bool = False) -> str:
    """(Re)create <server database>_<SUFFIX> on the server of SERVER_URL; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"{url.database}_{suffix}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def migrate(url: str) -> None:
    """alembic upgrade head on URL, in this process."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@contextmanager
def engine_for(database: Database) -> Iterator[Any]:
    """The app's engine on DATABASE (make_engine: the app's pragmas and BEGIN IMMEDIATE)."""
    from app.db import make_engine

    engine = make_engine(database.url)
    try:
        yield engine
    finally:
        engine.dispose()


# -- data -----------------------------------------------------------------------------------


def base_rows(session: Any, offices: int, tag: str) -> tuple[list[int], dict[int, int]]:
    """China's calendar around DAY, a unit, OFFICES offices (mailbox, leader), one owner with an
    e-mail address per office and a coordinator. Returns (office ids, owner id by office)."""
    from sqlalchemy import insert

    from app.models import Office, User, UserRole
    from app.services.holidays import seed_from_library
    from app.services.offices import ensure_unit

    seed_from_library(session, range(DAY.year - 1, DAY.year + 2))
    unit = ensure_unit(session, f"基准测试单位{tag}")
    office_ids = list(session.scalars(insert(Office).returning(Office.id), [
        {"unit_id": unit.id, "name": f"基准科室{i + 1:04d}", "kind": "section",
         "mailbox": f"office{i + 1}@{MAIL_DOMAIN}", "leader_name": "分管领导",
         "leader_email": f"leader{i + 1}@{MAIL_DOMAIN}", "is_active": True, "created_at": NOW}
        for i in range(offices)
    ]))  # fmt: skip
    user_rows = [
        {"login": f"owner{i + 1}", "name": f"责任人{i + 1}", "email": f"owner{i + 1}@{MAIL_DOMAIN}",
         "office_id": office_id, "password_hash": "!", "created_at": NOW}
        for i, office_id in enumerate(office_ids)
    ]  # fmt: skip
    user_rows.append({"login": "benchcoord", "name": "协调员", "email": f"coord@{MAIL_DOMAIN}",
                      "office_id": None, "password_hash": "!", "created_at": NOW})  # fmt: skip
    user_ids = list(session.scalars(insert(User).returning(User.id), user_rows))
    session.execute(insert(UserRole), [{"user_id": user_ids[-1], "role": "coordinator"}])
    return office_ids, dict(zip(office_ids, user_ids, strict=False))


def task_row(title: str, office_id: int, owner_id: int | None, deadline: date, status: str,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"title": title, "description": "", "lead_office_id": office_id, "owner_id": owner_id,
            "deadline": deadline, "status": status, "version": 1, "created_at": NOW,
            "updated_at": NOW, **extra}  # fmt: skip


def fill_planning(engine: Any, open_tasks: int, offices: int) -> dict[str, int]:
    """The planning data set: OPEN_TASKS open tasks, of which only the same few can be due on
    DAY at any size, and OPEN_TASKS/4 closed or cancelled ones. Returns the counts."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from app.models import ProgressUpdate, Task, TaskCooperatingOffice

    rng = random.Random(20250312)
    with Session(engine) as session:
        office_ids, owners = base_rows(session, offices, "规划")

        def office() -> tuple[int, int]:
            chosen = rng.choice(office_ids)
            return chosen, owners[chosen]

        rows: list[dict[str, Any]] = []
        near = min(NEAR_TASKS, open_tasks)
        recurring = min(RECURRING_TASKS, open_tasks - near)
        for i in range(near):  # deadlines from DAY - 10 to DAY + 18: before-N, due, overdue
            rows.append(task_row(f"临近任务{i + 1}", *office(),
                                 DAY + timedelta(days=rng.randint(-10, 18)),
                                 rng.choice(("assigned", "in_progress"))))  # fmt: skip
        for i in range(recurring):  # monthly duties: a progress report due now and then
            rows.append(task_row(f"按月报送任务{i + 1}", *office(), DAY + timedelta(days=200),
                                 "in_progress", recurrence="monthly",
                                 created_at=NOW - timedelta(days=rng.randint(20, 70))))  # fmt: skip
        for i in range(open_tasks - near - recurring):
            rows.append(task_row(
                f"合成任务{i + 1}", *office(),
                DAY + timedelta(days=FAR_FROM_DAYS + rng.randrange(FAR_SPAN_DAYS)),
                rng.choice(("assigned", "in_progress")),
            ))  # fmt: skip
        for i in range(SUBMITTED_TASKS):  # submitted a week ago: the coordinator is reminded
            rows.append(task_row(f"待审核任务{i + 1}", *office(), DAY + timedelta(days=40),
                                 "submitted", updated_at=NOW - timedelta(days=7)))  # fmt: skip
        closed = open_tasks // 4
        for i in range(closed):
            rows.append(task_row(f"已办结任务{i + 1}", *office(),
                                 DAY - timedelta(days=1 + rng.randrange(FAR_SPAN_DAYS)),
                                 rng.choice(("closed", "cancelled"))))  # fmt: skip
        task_ids = list(session.scalars(insert(Task).returning(Task.id), rows))
        session.execute(insert(TaskCooperatingOffice), [
            {"task_id": task_id, "office_id": office_ids[task_id % len(office_ids)]}
            for task_id in task_ids[::3]
        ])  # fmt: skip
        recurring_ids = task_ids[near : near + recurring]
        if recurring_ids:
            session.execute(insert(ProgressUpdate), [
                {"task_id": task_id, "text": "按月报送进展。",
                 "created_at": NOW - timedelta(days=rng.randint(25, 40))}
                for task_id in recurring_ids
            ])  # fmt: skip
        session.commit()
    return {"open": open_tasks, "submitted": SUBMITTED_TASKS, "closed": closed,
            "near": near, "recurring": recurring, "offices": offices}  # fmt: skip


def fill_delivery(engine: Any, mails: int, offices: int) -> None:
    """Open tasks due on DAY, owned by nobody, so that each reminder goes to one mailbox; at
    least MAILS outbox rows once planned."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from app.models import Task

    with Session(engine) as session:
        office_ids, _ = base_rows(session, offices, "投递")
        session.execute(insert(Task), [
            task_row(f"今日到期任务{i + 1}", office_ids[i % len(office_ids)], None, DAY,
                     "in_progress")
            for i in range(mails)
        ])  # fmt: skip
        session.commit()


def fill_whole(engine: Any, tasks: int, offices: int) -> dict[str, int]:
    """``flask demo synth``'s data set on DAY, with mailboxes, leaders and a coordinator."""
    from sqlalchemy import String, cast, func, insert, literal, update
    from sqlmodel import Session, select

    from app.models import Office, Task, User, UserRole
    from app.services.demo import synthesize
    from app.services.holidays import seed_from_library

    with Session(engine) as session:
        seed_from_library(session, range(DAY.year - 1, DAY.year + 2))
        synthesize(session, offices=offices, tasks=tasks, updates=tasks, today=DAY, now=NOW)
        number = cast(Office.id, String)
        session.execute(update(Office).values(
            mailbox=literal("office").concat(number).concat(f"@{MAIL_DOMAIN}"),
            leader_email=literal("leader").concat(number).concat(f"@{MAIL_DOMAIN}"),
        ))  # fmt: skip
        coordinator = session.scalars(insert(User).returning(User.id), [
            {"login": "benchcoord", "name": "协调员", "email": f"coord@{MAIL_DOMAIN}",
             "password_hash": "!", "created_at": NOW}
        ]).one()  # fmt: skip
        session.execute(insert(UserRole), [{"user_id": coordinator, "role": "coordinator"}])
        counts = dict(session.exec(select(Task.status, func.count()).group_by(Task.status)).all())
        session.commit()
    return {"tasks": tasks, "offices": offices, **{f"status_{k}": v for k, v in counts.items()}}


# -- planning -------------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: Any
    steps: int = 0  # SQLite VM instructions, in units of STEP_GRANULARITY
    rows: int | None = None  # rows a SELECT returns
    plan: str = ""  # EXPLAIN (QUERY PLAN), for statements that read the task table

    @property
    def reads_tasks(self) -> bool:
        return self.sql.lstrip().upper().startswith("SELECT") and bool(
            re.search(r"\bFROM task\b", self.sql)
        )


def sweep(engine: Any, statements: list[Statement] | None = None) -> tuple[float, Any, int]:
    """One planning sweep on DAY in its own session, rolled back: (seconds, PlanResult, the
    outbox rows it wrote, counted). With STATEMENTS, every statement is recorded into it, with
    its VM instructions on SQLite."""
    from sqlalchemy import event, func
    from sqlmodel import Session, select

    from app.core.reminder_policy import ReminderPolicy
    from app.models import Outbox
    from app.services import reminders
    from app.services.holidays import load_calendar

    def record(_conn, _cursor, sql, params, _context, _executemany) -> None:
        statements.append(Statement(sql, params))

    def step() -> int:
        if statements:
            statements[-1].steps += STEP_GRANULARITY
        return 0  # go on

    with Session(engine) as session:
        driver = session.connection().connection.driver_connection  # after BEGIN
        if statements is not None:
            event.listen(engine, "before_cursor_execute", record)
            if engine.dialect.name == "sqlite":
                driver.set_progress_handler(step, STEP_GRANULARITY)
        try:
            started = time.perf_counter()
            result = reminders.plan(
                session, now=NOW, today=DAY, calendar=load_calendar(session),
                policy=ReminderPolicy(), timezone=TIMEZONE, base_url=BASE_URL,
                from_address=MAIL_FROM, domain=MAIL_DOMAIN,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
        finally:
            if statements is not None:
                event.remove(engine, "before_cursor_execute", record)
                if engine.dialect.name == "sqlite":
                    driver.set_progress_handler(None, 0)
        written = session.exec(select(func.count()).select_from(Outbox)).one()  # empty before
        session.rollback()
    return elapsed, result, written


def describe_statements(engine: Any, statements: list[Statement]) -> None:
    """Rows returned by each SELECT, and the plan of each that reads the task table."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        for statement in statements:
            if not statement.sql.lstrip().upper().startswith("SELECT"):
                continue
            statement.rows = connection.exec_driver_sql(
                f"SELECT count(*) FROM ({statement.sql}) AS counted", statement.params
            ).scalar_one()
            if statement.reads_tasks:
                rows = connection.exec_driver_sql(explain + statement.sql, statement.params)
                statement.plan = short_plan([str(row[-1]) for row in rows])
        connection.rollback()


def short_sql(sql: str) -> str:
    """SQL on one line, its column lists and long IN lists abbreviated."""
    text = " ".join(sql.split())
    text = re.sub(
        r"%\([a-z0-9_]+\)s(?:::(?:VARCHAR|INTEGER|DATE|BOOLEAN|TIMESTAMP"
        r"(?: WITH(?:OUT)? TIME ZONE)?))?",
        "?",
        text,
    )  # psycopg's to SQLite's style
    text = re.sub(r"^SELECT (?!count).*? FROM ", "SELECT … FROM ", text)
    text = re.sub(r"\((?:(?:\?|%\([a-z0-9_]+\)s|__\[[^\]]+\]), ){3,}[^)]*\)",
                  lambda m: f"(…{m.group(0).count(',') + 1})", text)  # fmt: skip
    text = re.sub(r"INSERT INTO outbox \(.*?\) VALUES .*", "INSERT INTO outbox (…) VALUES …", text)
    return text if len(text) <= SQL_WIDTH else text[: SQL_WIDTH - 1] + "…"


def short_plan(lines: list[str]) -> str:
    """A query plan on one line: SQLite's as it is; PostgreSQL's nodes and conditions only."""
    kept = []
    for line in lines:
        line = re.sub(r"\s*\(cost=[^)]*\)", "", line).strip().removeprefix("->").strip()
        if "Scan" in line or line.startswith(("Filter:", "Index Cond:", "Recheck Cond:")):
            kept.append(line)
    return "; ".join(kept or lines)


def uses_index(plan: str) -> bool:
    return any(index in plan for index in INDEXES)


def table_scan(plan: str) -> bool:
    """A scan of the whole task table (or of a whole index of it)."""
    return bool(re.search(r"\bSCAN task\b|Seq Scan on task\b", plan))


def measure_planning(database: Database, size: int, settings: RemindersSettings) -> dict:
    """Fill DATABASE with SIZE open tasks, time the sweep, then record one sweep's statements."""
    from sqlalchemy import text

    with engine_for(database) as engine:
        started = time.perf_counter()
        counts = fill_planning(engine, size, settings.offices)
        if database.backend == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        fill_seconds = time.perf_counter() - started
        sweep(engine)  # warm-up: compiled statements, the database's cache
        times, results = [], []
        for _ in range(settings.rounds * PLAN_SWEEPS_PER_ROUND):
            seconds, result, written = sweep(engine)
            times.append(seconds)
            results.append(result)
        statements: list[Statement] = []
        sweep(engine, statements)
        describe_statements(engine, statements)
    due, planned = len(results[0].due), results[0].planned
    by_rule: dict[str, int] = {}
    for reminder in results[0].due:
        rule = reminder.rule if not reminder.rule.startswith("before-") else "before-N"
        by_rule[rule] = by_rule.get(rule, 0) + 1
    steps = sum(s.steps for s in statements) if database.backend == "sqlite" else None
    return {
        "open_tasks": size,
        "counts": counts,
        "fill_seconds": round(fill_seconds, 3),
        "seconds": statistics.median(times),
        "best_seconds": min(times),
        "seconds_all": [round(t, 5) for t in times],
        "due": due,
        "due_by_rule": by_rule,
        "outbox_rows": written,
        "planned_reported": planned,  # PlanResult.planned: should equal outbox_rows
        "statements": len(statements),
        "rows_returned": sum(s.rows or 0 for s in statements),
        "vm_steps": steps,
        "statement_detail": [
            {
                "sql": short_sql(s.sql),
                "rows": s.rows,
                "vm_steps": s.steps if database.backend == "sqlite" else None,
                "plan": s.plan,
                "uses_index": uses_index(s.plan) if s.reads_tasks else None,
                "table_scan": table_scan(s.plan) if s.reads_tasks else None,
            }
            for s in statements
        ],  # fmt: skip
    }


def run_planning(backend: str, settings: RemindersSettings) -> dict[str, Any]:
    sizes = {}
    for size in settings.plan_sizes:
        print(f"  planning, {backend}: {size} open tasks ...", flush=True)
        with fresh_database(backend, f"plan{size}") as database:
            sizes[str(size)] = measure_planning(database, size, settings)
        row = sizes[str(size)]
        median, best = row["seconds"] * 1000, row["best_seconds"] * 1000
        print(f"    median {median:.1f} ms, best {best:.1f} ms, {row['due']} due, "
              f"{row['statements']} statements", flush=True)  # fmt: skip
    small, large = sizes[str(settings.plan_sizes[0])], sizes[str(settings.plan_sizes[-1])]
    task_reads = [s for s in large["statement_detail"] if s["uses_index"] is not None]
    return {
        "sizes": sizes,
        "ratio": large["seconds"] / small["seconds"] if small["seconds"] else None,
        "best_ratio": large["best_seconds"] / small["best_seconds"],
        "table_ratio": settings.plan_sizes[-1] / settings.plan_sizes[0],
        "steps_ratio": large["vm_steps"] / small["vm_steps"] if small["vm_steps"] else None,
        "same_due": small["due"] == large["due"],
        "task_reads": len(task_reads),
        "task_reads_through_index": sum(bool(s["uses_index"]) for s in task_reads),
        "task_table_scans": sum(bool(s["table_scan"]) for s in task_reads),
    }


# -- delivery -------------------------------------------------------------------------------


class CountingHandler:
    """An aiosmtpd handler that accepts every message and only counts them."""

    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 OK"


def free_port() -> int:
    # aiosmtpd's Controller cannot take port 0: start() probes the port it was given.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[tuple[CountingHandler, int]]:
    """aiosmtpd on 127.0.0.1 in a thread of this process; stopped however the run ends."""
    from aiosmtpd.controller import Controller

    handler, port = CountingHandler(), free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        with suppress(Exception):
            controller.stop()


class KeepingSender:
    """A sender that keeps the messages it is given: the outbox without SMTP. The outbox hands
    it the messages it rendered when planning (send_bytes), as it does SmtpSender."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage | bytes] = []

    def __enter__(self) -> KeepingSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def send_bytes(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        self.messages.append(raw)


def deliver(engine: Any, sender: Any, limit: int | None) -> Any:
    from app.services import reminders

    return reminders.deliver_pending(engine, sender=sender, now=NOW, from_address=MAIL_FROM,
                                     domain=MAIL_DOMAIN, limit=limit)  # fmt: skip


def reset(engine: Any, ids: list[int]) -> None:
    """The rows IDS pending again, as planned."""
    from sqlalchemy import update

    from app.models import Outbox

    with engine.begin() as connection:
        connection.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
            status="pending", attempts=0, sent_at=None, last_error=None, next_attempt_at=NOW,
        ))  # fmt: skip


def plain_smtplib(port: int, messages: list[EmailMessage], noop: bool = False) -> float:
    """Seconds to send MESSAGES over one smtplib connection (with a NOOP before each message
    after the first, if NOOP: what SmtpSender used to do; it now checks only a connection that
    sat idle for a few seconds)."""
    started = time.perf_counter()
    smtp = smtplib.SMTP(HOST, port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        smtp.ehlo()
        for number, message in enumerate(messages):
            if noop and number:
                smtp.noop()
            smtp.send_message(message)
        smtp.quit()
    finally:
        smtp.close()
    return time.perf_counter() - started


def flat_message_id(raw: bytes) -> str | None:
    """The Message-ID of a flattened message."""
    from email.parser import BytesHeaderParser

    return BytesHeaderParser().parsebytes(raw).get("Message-ID")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def check_delivered(result: Any, handler: CountingHandler, before: int, expected: int) -> None:
    if result.sent != expected or handler.messages - before != expected:
        received = handler.messages - before
        raise RuntimeError(f"the outbox sent {result.sent} and the server received {received} "
                           f"of {expected} messages: {result}")  # fmt: skip


def run_delivery(backend: str, settings: RemindersSettings) -> dict[str, Any]:
    """The outbox against plain smtplib, on the same rows and messages, round after round."""
    from sqlalchemy import update
    from sqlmodel import Session, select

    from app.core.reminder_policy import ReminderPolicy
    from app.models import Outbox
    from app.notify.email import build_message, flatten
    from app.notify.smtp import SmtpSender
    from app.services import reminders
    from app.services.holidays import load_calendar

    mails = settings.mails
    print(f"  delivery, {backend}: {mails} reminders to aiosmtpd ...", flush=True)
    with fresh_database(backend, "deliver") as database, engine_for(database) as engine, \
            smtp_server() as (handler, port):  # fmt: skip
        fill_delivery(engine, mails, settings.offices)
        with Session(engine) as session:
            reminders.plan(session, now=NOW, today=DAY, calendar=load_calendar(session),
                           policy=ReminderPolicy(), timezone=TIMEZONE, base_url=BASE_URL,
                           from_address=MAIL_FROM, domain=MAIL_DOMAIN)  # fmt: skip
            session.commit()
            rows = session.exec(select(Outbox.id, Outbox.body).order_by(Outbox.id)).all()
        if len(rows) < mails:
            raise RuntimeError(f"planning made {len(rows)} outbox rows, not {mails}")
        rows = rows[:mails]
        ids = [row[0] for row in rows]
        with engine.begin() as connection:  # the rest out of the way: every call takes ours
            connection.execute(update(Outbox).where(Outbox.id > ids[-1]).values(status="skipped"))
        keeper = KeepingSender()
        keep_seconds, result = timed(lambda: deliver(engine, keeper, mails))
        if result.sent != mails or len(keeper.messages) != mails:
            raise RuntimeError(f"the outbox built {len(keeper.messages)} of {mails}: {result}")
        if not all(isinstance(kept, bytes) for kept in keeper.messages):
            raise RuntimeError("the outbox built messages at delivery, not the ones it stored")
        # The baseline sends the messages build_message makes of the same rows (as the outbox
        # did before it stored them): flattened by send_message, as ever.
        messages = [
            build_message(reminders._mail_from_json(body), sender=MAIL_FROM, domain=MAIL_DOMAIN,
                          now=NOW)
            for _, body in rows
        ]  # fmt: skip
        kept_ids = [flat_message_id(kept) for kept in keeper.messages]
        if kept_ids != [message["Message-ID"] for message in messages]:
            raise RuntimeError("the outbox sent other messages than the baseline")
        reset(engine, ids)
        plain, plain_noop, outbox = [], [], []
        for number in range(1, settings.rounds + 1):
            plain.append(plain_smtplib(port, messages))
            plain_noop.append(plain_smtplib(port, messages, noop=True))
            before = handler.messages

            def send_all() -> Any:
                with SmtpSender(HOST, port, timeout=SMTP_TIMEOUT_SECONDS) as sender:
                    return deliver(engine, sender, mails)

            seconds, result = timed(send_all)
            check_delivered(result, handler, before, mails)
            outbox.append(seconds)
            reset(engine, ids)
            print(f"    round {number}: plain smtplib {plain[-1]:.3f} s, outbox {seconds:.3f} s, "
                  f"ratio {plain[-1] / seconds:.3f}", flush=True)  # fmt: skip
        render_seconds, _ = timed(lambda: [
            flatten(build_message(reminders._mail_from_json(body), sender=MAIL_FROM,
                                  domain=MAIL_DOMAIN, now=NOW, dated=False))
            for _, body in rows
        ])  # fmt: skip
        received = handler.messages
    expected = mails * 3 * settings.rounds
    if received != expected:
        raise RuntimeError(f"the SMTP server received {received} messages, not {expected}")
    ratios = [p / o for p, o in zip(plain, outbox, strict=True)]
    plain_s, outbox_s, noop_s = (statistics.median(x) for x in (plain, outbox, plain_noop))
    per = 1000 / mails  # seconds for all -> ms per message

    return {
        "mails": mails,
        "plain_seconds": plain_s,
        "plain_noop_seconds": noop_s,
        "outbox_seconds": outbox_s,
        "ratio": plain_s / outbox_s,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "goal_ratio": GOAL_DELIVERY_RATIO,
        "goal_met": plain_s / outbox_s >= GOAL_DELIVERY_RATIO,
        "per_message_ms": {
            "plain_smtplib": plain_s * per,
            "noop_round_trip": (noop_s - plain_s) * per,
            "render_at_plan": render_seconds * per,
            "outbox_without_smtp": keep_seconds * per,
            "bookkeeping": keep_seconds * per,
            "outbox": outbox_s * per,
        },
        "server_received": received,
    }


# -- a whole run ----------------------------------------------------------------------------


def run_whole(backend: str, settings: RemindersSettings) -> dict[str, Any]:
    """demo synth's data set, then plan and deliver everything due on DAY."""
    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.core.reminder_policy import ReminderPolicy
    from app.models import Outbox
    from app.notify.smtp import SmtpSender
    from app.services import reminders
    from app.services.holidays import load_calendar

    tasks = settings.whole_tasks
    print(f"  whole run, {backend}: {tasks} tasks (demo synth) ...", flush=True)
    with fresh_database(backend, "whole") as database, engine_for(database) as engine, \
            smtp_server() as (handler, port):  # fmt: skip
        counts = fill_whole(engine, tasks, settings.whole_offices)
        started = time.perf_counter()
        with Session(engine) as session:
            result = reminders.plan(
                session, now=NOW, today=DAY, calendar=load_calendar(session),
                policy=ReminderPolicy(), timezone=TIMEZONE, base_url=BASE_URL,
                from_address=MAIL_FROM, domain=MAIL_DOMAIN,
            )  # fmt: skip
            session.commit()
        planned = time.perf_counter()
        with Session(engine) as session:
            written = session.exec(select(func.count()).select_from(Outbox)).one()
        totals = {"sent": 0, "skipped": 0, "retried": 0, "failed": 0}
        calls = 0
        while True:
            with SmtpSender(HOST, port, timeout=SMTP_TIMEOUT_SECONDS) as sender:
                delivered = deliver(engine, sender, None)
            calls += 1
            for key in totals:
                totals[key] += getattr(delivered, key)
            if sum(asdict(delivered).values()) == 0:
                break
        finished = time.perf_counter()
        received = handler.messages
    if received != totals["sent"]:
        raise RuntimeError(f"the outbox sent {totals['sent']}, the server received {received}")
    return {
        "dataset": counts,
        "due": len(result.due),
        "outbox_rows": written,
        "planned_reported": result.planned,
        "plan_seconds": planned - started,
        "deliver_seconds": finished - planned,
        "seconds": finished - started,
        "deliver_calls": calls,
        **totals,
    }


# -- the run and its table ------------------------------------------------------------------


def run(settings: RemindersSettings) -> dict[str, Any]:
    """All three benchmarks on every backend, as one JSON-ready mapping."""
    print(f"measuring reminders ({settings.rounds} rounds; backends: {', '.join(backends())}) ...",
          flush=True)  # fmt: skip
    figures: dict[str, Any] = {"settings": asdict(settings), "day": DAY.isoformat(),
                               "backends": {}}  # fmt: skip
    for backend in backends():
        figures["backends"][backend] = {
            "planning": run_planning(backend, settings),
            "delivery": run_delivery(backend, settings),
            "whole": run_whole(backend, settings),
        }
    return figures


def print_table(figures: dict[str, Any]) -> None:
    """Per backend: planning at each size, its statements, delivery, the whole run."""
    settings = figures["settings"]
    for backend, parts in figures["backends"].items():
        print_planning(backend, parts["planning"], settings)
        print_delivery(backend, parts["delivery"], settings)
        print_whole(backend, parts["whole"])


def print_planning(backend: str, figures: dict[str, Any], settings: dict[str, Any]) -> None:
    sizes = figures["sizes"]
    sweeps = settings["rounds"] * PLAN_SWEEPS_PER_ROUND
    print(f"reminders, planning one sweep on {DAY.isoformat()} ({backend}), median and best of "
          f"{sweeps} sweeps")  # fmt: skip
    print(f"{'open tasks':>11}{'+closed':>9}{'median ms':>10}{'best ms':>9}{'due':>6}{'outbox':>8}"
          f"{'stmts':>7}{'rows read':>11}{'VM steps':>11}")  # fmt: skip
    for row in sizes.values():
        steps = f"{row['vm_steps']:,}" if row["vm_steps"] is not None else "n/a"
        median, best = row["seconds"] * 1000, row["best_seconds"] * 1000
        print(f"{row['open_tasks']:>11,}{row['counts']['closed']:>9,}{median:>10.1f}{best:>9.1f}"
              f"{row['due']:>6}{row['outbox_rows']:>8}{row['statements']:>7}"
              f"{row['rows_returned']:>11,}{steps:>11}")  # fmt: skip
    table = f"{figures['table_ratio']:g}"
    steps = f", VM steps ×{figures['steps_ratio']:.2f}" if figures["steps_ratio"] else ""
    print(f"time at the largest size ÷ time at the smallest: {figures['ratio']:.2f} (median), "
          f"{figures['best_ratio']:.2f} (best); the table ×{table}{steps}; same reminders due at "
          "both sizes: "
          f"{'yes' if figures['same_due'] else 'no'}")  # fmt: skip
    print(
        f"statements that read the task table: {figures['task_reads']}, "
        f"through {' or '.join(INDEXES)}: "
        f"{figures['task_reads_through_index']}, table scans: {figures['task_table_scans']}"
    )
    miscounted = {row["planned_reported"] for row in sizes.values()
                  if row["planned_reported"] != row["outbox_rows"]}  # fmt: skip
    if miscounted:
        print(f"note: PlanResult.planned said {', '.join(map(str, sorted(miscounted)))}, not the "
              "number of outbox rows the sweep wrote (counted afterwards)")  # fmt: skip
    small, large = (list(sizes.values())[i] for i in (0, -1))
    print(
        f"statements of one sweep ({small['open_tasks']:,} → {large['open_tasks']:,} open "
        "tasks: rows returned, VM steps; plan of those that read the task table)"
    )
    for first, last in zip(small["statement_detail"], large["statement_detail"], strict=False):
        rows = "" if last["rows"] is None else f"{first['rows']:,} → {last['rows']:,} rows"
        steps = ("" if last["vm_steps"] is None
                 else f"{first['vm_steps']:,} → {last['vm_steps']:,} steps")  # fmt: skip
        print(f"  {last['sql']}")
        detail = ", ".join(part for part in (rows, steps) if part)
        if detail:
            print(f"      {detail}")
        if last["plan"]:
            print(f"      plan: {last['plan']}")
    print()


def print_delivery(backend: str, figures: dict[str, Any], settings: dict[str, Any]) -> None:
    per = figures["per_message_ms"]
    print(f"reminders, delivery of {figures['mails']} reminders to aiosmtpd ({backend}), median of "
          f"{settings['rounds']} rounds")  # fmt: skip
    print(f"  plain smtplib, one connection        {figures['plain_seconds']:8.3f} s")
    print(f"  outbox: deliver_pending + SmtpSender {figures['outbox_seconds']:8.3f} s")
    met = "met" if figures["goal_met"] else "not met"
    print(f"  ratio plain ÷ outbox: {figures['ratio']:.3f} (rounds {figures['ratio_min']:.3f}-"
          f"{figures['ratio_max']:.3f}); goal ≥ {figures['goal_ratio']:g}: {met}")  # fmt: skip
    print("  per message, ms:")
    print(f"    plain smtplib send_message (flatten + SMTP)   {per['plain_smtplib']:7.2f}")
    print(f"    + NOOP before each message (old SmtpSender)   {per['noop_round_trip']:7.2f}"
          "   (a difference of medians)")  # fmt: skip
    print(f"    rendering when planned (build + flatten)      {per['render_at_plan']:7.2f}"
          "   (part of planning, not of delivery)")  # fmt: skip
    print(f"    outbox bookkeeping: claim, load, Date, commit {per['bookkeeping']:7.2f}")
    print(f"    outbox without SMTP (once)                    {per['outbox_without_smtp']:7.2f}")
    print(f"    outbox with SMTP                              {per['outbox']:7.2f}")
    print()


def print_whole(backend: str, figures: dict[str, Any]) -> None:
    data = figures["dataset"]
    statuses = ", ".join(f"{k.removeprefix('status_')} {v}" for k, v in sorted(data.items())
                         if k.startswith("status_"))  # fmt: skip
    print(f"reminders, a whole run ({backend}): demo synth, {data['tasks']:,} tasks, "
          f"{data['offices']} offices ({statuses})")  # fmt: skip
    print(f"  plan {figures['plan_seconds']:.2f} s ({figures['due']} reminders due, "
          f"{figures['outbox_rows']} outbox rows), deliver {figures['deliver_seconds']:.2f} s "
          f"({figures['sent']} sent in {figures['deliver_calls']} calls), "
          f"total {figures['seconds']:.2f} s")  # fmt: skip
    mails = figures["sent"] / figures["deliver_seconds"] if figures["deliver_seconds"] else 0
    per_row = figures["plan_seconds"] * 1000 / max(1, figures["outbox_rows"])
    print(f"  {mails:.0f} mails/s delivered; plan {per_row:.2f} ms per outbox row")
    if figures["planned_reported"] != figures["outbox_rows"]:
        print(f"  note: PlanResult.planned said {figures['planned_reported']}, the outbox has "
              f"{figures['outbox_rows']} rows")  # fmt: skip
    print()
