"""The issue's benchmark pages run a number of SQL statements that does not grow with the number
of tasks (no statement per row): 我的任务, 全部任务 (first page, and a filtered page) and the task
page, each counted at 30 and at 300 tasks."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import event
from sqlmodel import Session, select

from app.clock import utcnow
from app.core.lifecycle import TaskStatus
from app.core.timefmt import local_today
from app.db import get_engine
from app.models import Outcome, ProgressUpdate, Task, TaskComment
from tests.conftest import login
from tests.factories import World, make_task

TODAY = local_today(utcnow(), "Asia/Shanghai")
STATUSES = list(TaskStatus)
PAGES = [  # (who, url); "{task}" is the task measured
    ("staff_a", "/tasks/mine"),
    ("coord1", "/tasks/"),
    ("coord1", "/tasks/?light=red&sort=-deadline"),
    ("coord1", "/tasks/{task}"),
]


def grow(db: Session, world: World, tasks: int) -> None:
    """Add tasks until there are TASKS in all (every state, deadlines on both sides of today,
    half of them shared with the other office), each with a progress update and an outcome;
    the task page's task gets a tenth as many updates and comments."""
    existing = len(db.exec(select(Task.id)).all())
    for n in range(existing, tasks):
        office, other = world.office_a, world.office_b
        if n % 2:
            office, other = other, office
        task = make_task(
            db, office, f"任务{n}", deadline=TODAY + timedelta(days=n % 40 - 20),
            status=STATUSES[n % len(STATUSES)], cooperating=[other] if n % 4 else [],
        )  # fmt: skip
        db.add(ProgressUpdate(task_id=task.id, text=f"进展{n}",
                              outcomes=[Outcome(metric="宣传", value=n, unit="次")]))  # fmt: skip
    for n in range(tasks // 10):
        db.add(ProgressUpdate(task_id=world.task_a.id, text=f"本任务进展{n}",
                              outcomes=[Outcome(metric="宣传", value=n, unit="次")]))  # fmt: skip
        db.add(TaskComment(task_id=world.task_a.id, text=f"评论{n}"))
    db.commit()


def statements(app: Flask, client, url: str) -> int:
    """How many SQL statements one GET of URL runs (BEGIN included)."""
    seen: list[str] = []
    engine = get_engine(app)

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, url
    return len(seen)


def counts(app: Flask, world: World) -> dict[str, int]:
    result = {}
    for who, url in PAGES:
        client = app.test_client()
        login(client, who)
        url = url.format(task=world.task_a.id)
        client.get(url)  # the first visit may differ (a new session, a new CSRF token)
        result[url] = statements(app, client, url)
    return result


def test_statements_do_not_grow_with_the_tasks(app: Flask, world: World, db: Session) -> None:
    grow(db, world, 30)
    few = counts(app, world)
    grow(db, world, 300)
    many = counts(app, world)
    assert many == few
    # And the pages really listed what was added: a full first page, lights, a long history.
    client = app.test_client()
    login(client, "coord1")
    assert "第 1 / 6 页，共 300 条" in client.get("/tasks/").text
    assert "本任务进展29" in client.get(f"/tasks/{world.task_a.id}").text
