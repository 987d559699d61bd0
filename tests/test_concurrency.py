"""Several processes writing one SQLite file at once lose no update and hit no lock error.

Each writer does read-modify-write through the app's own engine and session_scope(), the way a
request or a job does. Without BEGIN IMMEDIATE, pysqlite's legacy mode loses most of these
updates and a deferred BEGIN fails with "database is locked" (ecosystem-facts §11)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlmodel import select

from app.db import make_engine, session_scope
from app.models import Outcome, ProgressUpdate, Task
from tests.dbutil import migrate
from tests.factories import make_office, make_task, make_unit

WRITERS = 4
INCREMENTS = 40


def _writer(url: str, task_id: int, outcome_id: int, begin: str, start, errors) -> None:
    engine = make_engine(url).execution_options(sqlite_begin=begin)
    try:
        start.wait(timeout=60)
        for _ in range(INCREMENTS):
            with session_scope(engine) as session:
                outcome = session.get(Outcome, outcome_id)
                outcome.value = outcome.value + 1
                task = session.get(Task, task_id)  # the version column makes this a real race
                task.description = f"{task.description}."
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))
    finally:
        engine.dispose()


def _arrange(tmp_path: Path) -> tuple[str, int, int]:
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        task = make_task(session, make_office(session, make_unit(session), "司法所"))
        update = ProgressUpdate(task_id=task.id, text="计数", outcomes=[
            Outcome(metric="次数", value=0, unit="次")])  # fmt: skip
        session.add(update)
        session.flush()
        ids = task.id, update.outcomes[0].id
    engine.dispose()
    return url, *ids


def _run(target, args_for) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    start = ctx.Barrier(WRITERS)  # all writers begin together, so they really contend
    workers = [ctx.Process(target=target, args=(*args_for, start, errors)) for _ in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found


def _final(url: str, task_id: int, outcome_id: int) -> tuple[float, Task]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        value = session.get(Outcome, outcome_id).value
        task = session.exec(select(Task).where(Task.id == task_id)).one()
    engine.dispose()
    return value, task


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    url, task_id, outcome_id = _arrange(tmp_path)
    assert _run(_writer, (url, task_id, outcome_id, "IMMEDIATE")) == []
    value, task = _final(url, task_id, outcome_id)
    assert value == WRITERS * INCREMENTS
    assert len(task.description) == WRITERS * INCREMENTS
    assert task.version == WRITERS * INCREMENTS + 1


def test_a_deferred_begin_would_fail_under_the_same_load(tmp_path: Path) -> None:
    """The control: the same writers with SQLite's default BEGIN run into lock errors, which
    shows that the test above exercises real contention."""
    url, task_id, outcome_id = _arrange(tmp_path)
    errors = _run(_writer, (url, task_id, outcome_id, "DEFERRED"))
    value, _ = _final(url, task_id, outcome_id)
    assert errors or value < WRITERS * INCREMENTS
