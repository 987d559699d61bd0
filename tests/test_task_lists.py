"""The task lists: lights, counts, filters, sorting, bulk actions, and queries that do not grow
with the number of tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from app.clock import utcnow
from app.core.lifecycle import TaskStatus
from app.core.timefmt import local_today
from app.db import get_engine
from app.models import DeadlineChange, Office, Task
from tests.conftest import login, reread
from tests.factories import World, make_task

TODAY = local_today(utcnow(), "Asia/Shanghai")


def titles(html: str) -> set[str]:
    import re

    return set(re.findall(r'/tasks/\d+">([^<]+)</a>', html))


@pytest.fixture
def spread(db: Session, world: World) -> World:
    """Red, yellow and green tasks beside the world's own."""
    make_task(db, world.office_a, "逾期任务", deadline=TODAY - timedelta(days=3),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    make_task(db, world.office_a, "临近任务", deadline=TODAY + timedelta(days=1))
    make_task(db, world.office_b, "远期任务", deadline=TODAY + timedelta(days=90))
    make_task(db, world.office_b, "已办结任务", deadline=TODAY - timedelta(days=30),
              status=TaskStatus.CLOSED)  # fmt: skip
    db.commit()
    return world


def test_my_tasks_show_lights_and_counts(client, spread: World) -> None:
    login(client, "staff_a")
    html = client.get("/tasks/mine").text
    assert "红灯 · 已逾期" in html and "黄灯 · 临近时限" in html
    assert titles(html) == {"逾期任务", "临近任务", "甲科室的任务", "乙牵头甲配合的任务"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [("light=red", {"逾期任务"}), ("light=yellow", {"临近任务"}),
     ("status=closed", {"已办结任务"}), ("q=远期", {"远期任务"}),
     (f"due_from={(TODAY + timedelta(days=60)).isoformat()}", {"远期任务"}),
     (f"due_to={(TODAY - timedelta(days=1)).isoformat()}", {"逾期任务", "已办结任务"}),
     ("year=2021", {"甲科室的任务"}), ("year=2019", set())],
)  # fmt: skip
def test_filters(client, spread: World, query: str, expected: set[str]) -> None:
    login(client, "coord1")
    assert titles(client.get(f"/tasks/?{query}").text) == expected


def test_bad_filter_input_is_explained_not_fatal(client, spread: World) -> None:
    login(client, "coord1")
    response = client.get("/tasks/?due_from=2026-02-31&year=abc")
    assert response.status_code == 200
    assert "不是有效的日期值" in response.text
    assert "远期任务" in response.text  # the bad filter is ignored, the list still shows


def test_sorting(client, spread: World) -> None:
    login(client, "coord1")
    html = client.get("/tasks/?sort=-deadline").text
    assert html.index("远期任务") < html.index("逾期任务")
    html = client.get("/tasks/?sort=deadline").text
    assert html.index("逾期任务") < html.index("远期任务")


def test_bulk_extend_and_reassign(client, spread: World, db: Session) -> None:
    login(client, "coord1")
    ids = [t.id for t in db.exec(select(Task).where(Task.title.in_(["逾期任务", "已办结任务"])))]
    new = (TODAY + timedelta(days=40)).isoformat()
    data = {"task_ids": ids, "action": "extend", "new_deadline": new, "reason": "统一调整"}
    response = client.post("/tasks/bulk", data=data, follow_redirects=True)
    assert "已处理 1 项任务" in response.text and "“已办结任务”未处理" in response.text
    reread(db)
    overdue = db.exec(select(Task).where(Task.title == "逾期任务")).one()
    assert overdue.deadline.isoformat() == new
    assert db.exec(select(DeadlineChange).where(DeadlineChange.task_id == overdue.id)).one()
    response = client.post("/tasks/bulk", data={"task_ids": [overdue.id], "action": "reassign",
                           "office_id": spread.office_b.id, "reason": "职责调整"},
                           follow_redirects=True)  # fmt: skip
    reread(db)
    assert db.get(Task, overdue.id).lead_office_id == spread.office_b.id


def test_bulk_needs_a_reason_and_a_selection(client, spread: World, db: Session) -> None:
    login(client, "coord1")
    assert "请先勾选任务" in client.post("/tasks/bulk", data={"action": "extend", "reason": "x"},
                                      follow_redirects=True).text  # fmt: skip
    task = db.exec(select(Task).where(Task.title == "远期任务")).one()
    data = {"task_ids": [task.id], "action": "extend", "new_deadline": "2030-01-01"}
    response = client.post("/tasks/bulk", data=data, follow_redirects=True)
    assert "此项为必填项" in response.text
    reread(db)
    assert db.get(Task, task.id).deadline == TODAY + timedelta(days=90)


def test_bulk_is_for_coordinators_only(client, spread: World) -> None:
    login(client, "leader1")
    assert client.post("/tasks/bulk", data={"task_ids": [1], "action": "extend"}).status_code == 403
    assert "对勾选的任务执行" not in client.get("/tasks/").text


def count_statements(app, client, url: str) -> int:
    statements = []
    engine = get_engine(app)
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


@pytest.mark.parametrize("url", ["/tasks/mine", "/tasks/", "/tasks/?light=red"])
def test_list_queries_do_not_grow_with_the_tasks(client, app, world: World, db, url) -> None:
    login(client, "staff_a" if url == "/tasks/mine" else "coord1")
    make_task(db, world.office_a, "首个逾期任务", deadline=TODAY - timedelta(days=1),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    few = count_statements(app, client, url)  # one of each kind already listed
    for n in range(30):
        make_task(db, world.office_a, f"批量任务{n}", deadline=TODAY - timedelta(days=n % 3),
                  cooperating=[world.office_b], status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    assert count_statements(app, client, url) == few


def test_task_page_queries_do_not_grow_with_its_history(client, app, world: World, db) -> None:
    from app.models import Outcome, ProgressUpdate, TaskComment

    task = world.task_a
    login(client, "coord1")
    db.add(ProgressUpdate(task_id=task.id, text="首次进展",
                          outcomes=[Outcome(metric="宣传", value=1, unit="次")]))  # fmt: skip
    db.add(TaskComment(task_id=task.id, text="首条评论"))
    db.commit()
    few = count_statements(app, client, f"/tasks/{task.id}")  # one of each kind already shown
    for n in range(20):
        db.add(ProgressUpdate(task_id=task.id, text=f"进展{n}",
                              outcomes=[Outcome(metric="宣传", value=n, unit="次")]))  # fmt: skip
        db.add(TaskComment(task_id=task.id, text=f"评论{n}"))
    db.commit()
    assert count_statements(app, client, f"/tasks/{task.id}") == few


def test_commitment_filter_from_the_report_page(client, spread: World, db: Session) -> None:
    login(client, "coord1")
    commitment_id = db.get(Task, spread.task_a.id).commitment_id
    assert f"/tasks/?commitment={commitment_id}" in client.get("/reports/1").text
    assert titles(client.get(f"/tasks/?commitment={commitment_id}").text) == {"甲科室的任务"}


@pytest.mark.parametrize("who", ["coord1", "staff_a"])
def test_every_field_of_the_task_pages_is_labelled(client, spread: World, who: str) -> None:
    import re

    login(client, who)
    for url in ["/tasks/mine" if who == "staff_a" else "/tasks/", f"/tasks/{spread.task_a.id}"]:
        html = client.get(url).text
        fields = re.findall(r"<(?:input|select|textarea)\b([^>]*)>", html)
        ids = {re.search(r'id="([^"]+)"', f).group(1) for f in fields
               if 'type="hidden"' not in f and "id=" in f}  # fmt: skip
        unlabelled = [f for f in fields if 'type="hidden"' not in f and "id=" not in f]
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        assert not unlabelled and ids <= labelled, (url, ids - labelled, unlabelled)


def test_my_tasks_show_the_nearest_of_each_state_and_link_to_the_rest(
    client, app, world: World, db: Session
) -> None:
    for n in range(12):
        make_task(db, world.office_a, f"办理中{n:02d}", deadline=TODAY + timedelta(days=12 - n),
                  status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    login(client, "staff_a")
    html = client.get("/tasks/mine").text
    import re

    listed = re.findall(r'/tasks/\d+">(办理中\d+)</a>', html)
    assert listed == [f"办理中{n:02d}" for n in range(11, 1, -1)]  # the ten nearest deadlines
    assert "办理中 <strong>12</strong>" in html and "待签收 <strong>2</strong>" in html
    assert "查看全部 12 项办理中任务" in html and "/tasks/mine?status=in_progress" in html
    assert "查看全部 2 项" not in html  # a state that fits shows no link
    whole = client.get("/tasks/mine?status=in_progress").text
    assert titles(whole) == {f"办理中{n:02d}" for n in range(12)}
    assert "办理中 <strong>12</strong>" in whole  # the counts stay at the top
    app.config["PAGE_SIZE"] = 5
    last = client.get("/tasks/mine?status=in_progress&page=3").text
    assert titles(last) == {"办理中01", "办理中00"} and "第 3 / 3 页，共 12 条" in last
    assert titles(client.get("/tasks/mine?status=nonsense").text) >= {"甲科室的任务"}


def test_my_tasks_count_each_light_as_the_task_page_shows_it(client, world: World, db) -> None:
    from collections import Counter

    from app.core.lifecycle import light
    from app.core.workdays import WorkCalendar
    from app.models import Holiday

    # Days off just ahead move the first green deadline; a worked Sunday moves it back.
    days_off = [TODAY + timedelta(days=n) for n in (2, 3, 4)]
    for day in days_off:
        db.add(Holiday(day=day, is_workday=False, name="假日"))
    db.add(Holiday(day=TODAY + timedelta(days=9), is_workday=True, name="调休"))
    for n in range(-3, 20):
        status = [TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED,
                  TaskStatus.CLOSED][n % 4]  # fmt: skip
        make_task(db, world.office_a, f"灯{n}", deadline=TODAY + timedelta(days=n), status=status)
    db.commit()
    calendar = WorkCalendar({TODAY + timedelta(days=9): True} | dict.fromkeys(days_off, False))
    mine = db.exec(select(Task).where(Task.title.startswith("灯"))).all()
    mine += [db.get(Task, world.task_a.id), db.get(Task, world.shared_task.id)]
    expected = Counter(light(t.status, t.deadline, TODAY, calendar).value for t in mine)
    login(client, "staff_a")
    html = client.get("/tasks/mine").text
    for lit, word in [("red", "红灯"), ("yellow", "黄灯"), ("green", "绿灯")]:
        assert f"{word}</span> <strong>{expected[lit]}</strong>" in html, lit


def test_a_renamed_office_shows_its_new_name_in_the_lists(client, world: World, db) -> None:
    login(client, "coord1")
    assert ">甲科室</option>" in client.get("/tasks/").text
    office = db.get(Office, world.office_a.id)
    office.name = "甲科室（更名）"
    db.commit()
    html = client.get(f"/tasks/?office_id={world.office_a.id}").text
    assert f'<option value="{world.office_a.id}" selected>甲科室（更名）</option>' in html
    assert ">甲科室</option>" not in html


def test_the_lists_draw_each_light_as_the_core_does() -> None:
    from types import SimpleNamespace

    from app.core.lifecycle import light
    from app.core.workdays import WorkCalendar
    from app.services.task_queries import row_lights

    # A long holiday right ahead, a worked weekend inside it, and a Monday off later on.
    def day(n: int):
        return TODAY + timedelta(days=n)

    exceptions = {day(n): False for n in range(1, 8)} | {day(6): True, day(18): False}
    calendar = WorkCalendar(exceptions)
    for today in [day(n) for n in range(-3, 10)]:
        rows = [SimpleNamespace(id=n * 10 + k, status=status.value,
                                deadline=today + timedelta(days=n))
                for n in range(-5, 40) for k, status in enumerate(TaskStatus)]  # fmt: skip
        drawn = row_lights(rows, today, calendar)
        for row in rows:
            assert drawn[row.id] == light(row.status, row.deadline, today, calendar), (today, row)
