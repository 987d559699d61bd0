"""台账 export: the filtered, scoped list as a real .xlsx, read back with openpyxl."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from openpyxl import load_workbook
from sqlmodel import select

from app.core.ledger import COLUMNS
from app.core.lifecycle import TaskStatus
from app.models import AuditEvent, ProgressUpdate
from tests.conftest import login, reread
from tests.factories import World, make_task
from tests.test_task_lists import TODAY


def sheet_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    book = load_workbook(BytesIO(response.data))
    return list(book.active.iter_rows(values_only=True))


def test_export_has_the_ledger_columns_and_latest_progress(client, world: World, db) -> None:
    db.add(ProgressUpdate(task_id=world.task_a.id, text="第一次进展"))
    db.add(ProgressUpdate(task_id=world.task_a.id, text="最新进展：已完成宣传"))
    make_task(db, world.office_a, "逾期任务", deadline=TODAY - timedelta(days=2),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    login(client, "coord1")
    rows = sheet_rows(client.get("/tasks/export.xlsx"))
    assert "督办台账" in rows[0][0]
    assert list(rows[1]) == [header for header, _ in COLUMNS]
    body = {row[1]: row for row in rows[2:]}
    assert set(body) == {"甲科室的任务", "乙科室的任务", "乙牵头甲配合的任务", "逾期任务"}
    task_a = body["甲科室的任务"]
    assert task_a[2] == "2021年度报告 加强宣传" and task_a[3] == "甲科室"
    assert task_a[6] == "2026年12月31日" and task_a[7] == "最新进展：已完成宣传"
    assert task_a[8] == "待签收"
    assert body["乙牵头甲配合的任务"][4] == "甲科室"
    assert body["逾期任务"][9] == "红灯（已逾期）"
    assert [row[0] for row in rows[2:]] == [1, 2, 3, 4]
    reread(db)
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "task.export")).one()


def test_export_follows_the_filters(client, world: World) -> None:
    login(client, "coord1")
    rows = sheet_rows(client.get(f"/tasks/export.xlsx?office_id={world.office_b.id}"))
    assert {row[1] for row in rows[2:]} == {"乙科室的任务", "乙牵头甲配合的任务"}


def test_an_office_exports_only_its_own(client, world: World) -> None:
    login(client, "staff_b")
    rows = sheet_rows(client.get("/tasks/export.xlsx"))
    assert {row[1] for row in rows[2:]} == {"乙科室的任务", "乙牵头甲配合的任务"}


def test_auditors_cannot_export(client, world: World) -> None:
    login(client, "auditor1")
    assert client.get("/tasks/export.xlsx").status_code == 403
