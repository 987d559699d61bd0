"""The audit trail: append-only in the database (triggers refuse UPDATE, DELETE and, on
PostgreSQL, TRUNCATE), never changed by the app, and exported by the auditor as .xlsx and .csv
under the page's filter, streamed, safe to open in Excel, and itself audited."""

from __future__ import annotations

import ast
import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import delete, insert, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, func, select

from app.config import REPO_ROOT
from app.core.roles import Permission, has_permission
from app.db import get_engine
from app.models import AuditEvent, User
from app.services import audit
from tests.conftest import login, reread
from tests.factories import PASSWORD, World

APPEND_ONLY = "append-only"
HEADERS = ["时间", "操作人", "操作", "对象", "对象编号", "来源地址", "修改前", "修改后"]


def add_event(db: Session, **fields) -> AuditEvent:
    fields.setdefault("action", "task.update")
    fields.setdefault("at", datetime(2026, 6, 30, 2, 30, tzinfo=UTC))
    event = AuditEvent(**fields)
    db.add(event)
    db.commit()
    return event


def count(db: Session, *where) -> int:
    reread(db)
    return db.exec(select(func.count()).select_from(AuditEvent).where(*where)).one()


# -- append-only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(action="task.approve"),
        update(AuditEvent).values(after=None),
        delete(AuditEvent),
        text("UPDATE audit_event SET actor_login = 'someone_else'"),
        text("DELETE FROM audit_event"),
    ],
    ids=["update-action", "update-after", "delete", "raw-update", "raw-delete"],
)
def test_the_database_refuses_to_change_or_remove_an_event(db: Session, statement) -> None:
    event = add_event(db, actor_login="coord1", after={"status": "closed"})
    with pytest.raises(DBAPIError, match=APPEND_ONLY):
        db.execute(statement)
        db.flush()
    db.rollback()
    reread(db)
    kept = db.get(AuditEvent, event.id)
    assert (kept.action, kept.actor_login, kept.after) == ("task.update", "coord1",
                                                           {"status": "closed"})  # fmt: skip


def test_the_orm_cannot_edit_or_delete_an_event_either(db: Session) -> None:
    event = add_event(db)
    event.action = "task.approve"
    db.add(event)
    with pytest.raises(DBAPIError, match=APPEND_ONLY):
        db.commit()
    db.rollback()
    reread(db)
    db.delete(db.get(AuditEvent, event.id))
    with pytest.raises(DBAPIError, match=APPEND_ONLY):
        db.commit()
    db.rollback()
    assert count(db) == 1


def test_inserting_events_still_works(db: Session) -> None:
    add_event(db)
    audit.record(db, actor=None, action="login", actor_login="someone")
    db.commit()
    assert count(db) == 2


def test_postgresql_refuses_truncate_even_by_cascade(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    add_event(db)
    for statement in ("TRUNCATE audit_event", "TRUNCATE app_user CASCADE"):
        with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"):
            db.execute(text(statement))
        db.rollback()
    assert count(db) == 1


# The ways SQLAlchemy code could change or remove rows of audit_event.
_SQL_CHANGE = ("UPDATE AUDIT_EVENT", "DELETE FROM AUDIT_EVENT", "TRUNCATE")


def audit_event_writes(source: str) -> list[str]:
    """Statements in SOURCE (Python) that would update or delete audit events: update()/delete()
    of AuditEvent or its table, .delete()/.update() in a function that touches AuditEvent
    (session.delete(event), query(AuditEvent)....delete()), and raw SQL that does."""
    found: list[str] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func_ = node.func
            name = func_.id if isinstance(func_, ast.Name) else getattr(func_, "attr", "")
            args = " ".join(ast.unparse(a) for a in node.args)
            if name in {"update", "delete"} and ("AuditEvent" in args or "audit_event" in args):
                found.append(ast.unparse(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            sql = " ".join(node.value.upper().split())
            if "AUDIT_EVENT" in sql and any(word in sql for word in _SQL_CHANGE):
                found.append(node.value.strip()[:80])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = ast.unparse(node)
            if "AuditEvent" not in body and "audit_event" not in body:
                continue
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "delete"):  # fmt: skip
                    found.append(f"{node.name}: {ast.unparse(call)}")
    return found


def test_the_scan_finds_the_ways_of_changing_the_trail() -> None:
    sample = """
def purge(session, event):
    session.delete(event)
    return AuditEvent

def purge_all(session):
    session.exec(delete(AuditEvent).where(AuditEvent.id < 5))
    session.execute(update(AuditEvent.__table__).values(action="x"))
    session.query(AuditEvent).filter(AuditEvent.id < 5).delete()
    session.execute(text("delete from  audit_event where id < 5"))
"""
    assert len(audit_event_writes(sample)) == 5
    assert audit_event_writes("def f(session, row):\n    session.delete(row)\n") == []


def test_nothing_in_the_app_updates_or_deletes_audit_events() -> None:
    """Retention: the trail is kept (at least 180 days, docs/security.md) because nothing in the
    app can remove it; archiving is an operator's task outside the app."""
    found = {
        str(path.relative_to(REPO_ROOT)): writes
        for path in sorted((REPO_ROOT / "app").rglob("*.py"))
        if (writes := audit_event_writes(path.read_text(encoding="utf-8")))
    }
    assert found == {}


# -- export -------------------------------------------------------------------------------------


@pytest.fixture
def trail(db: Session, world: World) -> dict[str, AuditEvent]:
    """Events of several families, days and actors, some with values Excel would run."""
    coord = db.exec(select(User).where(User.login == "coord1")).one()
    events = {
        # 2026-06-30 23:30 in Shanghai is 15:30 UTC.
        "late": add_event(db, action="task.approve", actor_id=coord.id, actor_login="coord1",
                          object_type="task", object_id=world.task_a.id, ip="10.0.0.8",
                          before={"status": "submitted", "标题": "普法宣传"},
                          after={"status": "closed", "标题": "普法宣传"},
                          at=datetime(2026, 6, 30, 15, 30, tzinfo=UTC)),
        "login": add_event(db, action="login", actor_login="staff_a", object_type="user",
                           ip="10.0.0.9", at=datetime(2026, 7, 1, 1, 0, tzinfo=UTC)),
        "failed": add_event(db, action="login.failed", actor_login="=cmd|' /C calc'!A0",
                            ip="+10.0.0.1", at=datetime(2026, 7, 2, 1, 0, tzinfo=UTC)),
        "formula": add_event(db, action="task.comment", actor_login="@leader",
                             object_type="-task", after={"text": "=1+1"},
                             at=datetime(2026, 7, 3, 1, 0, tzinfo=UTC)),
    }  # fmt: skip
    return events


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_auditor_exports_the_trail_as_csv(client, trail) -> None:
    login(client, "auditor1")
    response = client.get("/audit/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-log-')
    assert f"filename*=UTF-8''{quote('审计日志-')}" in disposition
    assert b"\r\n" in response.data
    rows = read_csv(response.data)
    assert rows[0] == HEADERS
    body = {row[2]: row for row in rows[1:]}
    late = body["审核办结"]
    # Local time (Asia/Shanghai): 15:30 UTC on June 30 is 23:30 that day.
    assert late[:6] == ["2026-06-30 23:30:00", "coord1", "审核办结", "任务",
                        str(trail["late"].object_id), "10.0.0.8"]  # fmt: skip
    assert late[6] == '{"status":"submitted","标题":"普法宣传"}'
    assert late[7] == '{"status":"closed","标题":"普法宣传"}'
    assert body["登录"][6:] == ["", ""]
    times = [row[0] for row in rows[1:]]
    assert times == sorted(times)  # oldest first


def test_a_streamed_export_gives_its_connection_back(app: Flask, client, db, trail) -> None:
    """The CSV is read after the view returned; the session it is read with ends with it."""
    login(client, "auditor1")
    response = client.get("/audit/export.csv")
    assert len(read_csv(response.data)) > 4
    response.close()
    reread(db)
    assert get_engine(app).pool.checkedout() == 0


def test_csv_cells_that_excel_would_run_are_quoted(client, trail) -> None:
    login(client, "auditor1")
    rows = read_csv(client.get("/audit/export.csv").data)
    failed = next(row for row in rows if row[2] == "登录失败（密码错误）")
    assert failed[1] == "'=cmd|' /C calc'!A0"
    assert failed[5] == "'+10.0.0.1"
    formula = next(row for row in rows if row[2] == "评论")
    assert (formula[1], formula[3], formula[7]) == ("'@leader", "'-task", '{"text":"=1+1"}')
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert [audit.csv_safe(v) for v in ("\tx", "\rx", "x=1", "")] == ["'\tx", "'\rx", "x=1", ""]


def test_the_auditor_exports_the_trail_as_xlsx(client, trail) -> None:
    login(client, "auditor1")
    response = client.get("/audit/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f"filename*=UTF-8''{quote('审计日志-')}" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    late = next(row for row in rows if row[2] == "审核办结")
    assert late[0] == datetime(2026, 6, 30, 23, 30)
    assert late[1:6] == ("coord1", "审核办结", "任务", trail["late"].object_id, "10.0.0.8")
    assert late[7] == '{"status":"closed","标题":"普法宣传"}'
    # A value starting with "=" is text, not a formula.
    cells = [c for row in sheet.iter_rows() for c in row if c.value == "=cmd|' /C calc'!A0"]
    assert len(cells) == 1 and cells[0].data_type == "s"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_export_follows_the_pages_filter(client, trail) -> None:
    login(client, "auditor1")
    page = client.get("/audit/?action=login&date_from=2026-07-01&date_to=2026-07-02&page=2").text
    assert 'href="/audit/export.xlsx?action=login&amp;date_from=2026-07-01' in page
    assert "page=2" not in page.split("export.csv", 1)[1].split('"', 1)[0]
    rows = read_csv(client.get("/audit/export.csv?action=login&date_from=2026-07-01"
                               "&date_to=2026-07-02").data)  # fmt: skip
    assert [row[2] for row in rows[1:]] == ["登录", "登录失败（密码错误）"]
    # Dates are local: the event at 23:30 on June 30 belongs to June 30, not July 1.
    rows = read_csv(client.get("/audit/export.csv?date_to=2026-06-30").data)
    assert [row[0] for row in rows[1:]] == ["2026-06-30 23:30:00"]
    rows = read_csv(client.get("/audit/export.csv?actor=+COORD1+&action=task").data)
    assert [row[2] for row in rows[1:]] == ["审核办结"]


def test_the_export_is_audited(client, db: Session, trail) -> None:
    login(client, "auditor1")
    client.get("/audit/export.csv?action=task&actor=coord1").close()
    client.get("/audit/export.xlsx").close()
    reread(db)
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "audit.export")
                     .order_by(AuditEvent.id)).all()  # fmt: skip
    assert [e.actor_login for e in events] == ["auditor1", "auditor1"]
    assert events[0].after == {"format": "csv", "rows": 1,
                               "filters": {"action": "task", "actor": "coord1"}}  # fmt: skip
    assert events[1].after["format"] == "xlsx" and events[1].after["filters"] == {}
    assert events[1].after["rows"] >= 5  # the trail, the sign-in, the first export
    assert events[0].ip == "127.0.0.1" and events[0].object_type == "audit_event"
    # The auditor sees the exports in the trail under their own family.
    rows = read_csv(client.get("/audit/export.csv?action=audit").data)
    assert [row[2] for row in rows[1:]][:2] == ["导出审计日志", "导出审计日志"]


@pytest.mark.parametrize("login_name", ["admin1", "coord1", "leader1", "staff_a", "staff_b"])
def test_only_the_auditor_may_export(client, db: Session, trail, login_name: str) -> None:
    user = db.exec(select(User).where(User.login == login_name)).one()
    assert not has_permission(user.roles, Permission.VIEW_AUDIT)
    login(client, login_name)
    for url in ("/audit/export.csv", "/audit/export.xlsx"):
        assert client.get(url).status_code == 403
    assert count(db, AuditEvent.action == "audit.export") == 0


def test_anonymous_export_goes_to_sign_in(client, trail) -> None:
    for url in ("/audit/export.csv", "/audit/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "query",
    ["date_from=2026-13-45", "date_to=tomorrow", "date_from=1900-01-01", f"actor={'x' * 65}",
     "date_from=9999-12-31&date_to=0001-01-01"],
)  # fmt: skip
def test_a_bad_filter_exports_nothing_and_says_why(client, db: Session, trail, query) -> None:
    login(client, "auditor1")
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/audit/export.{fmt}?{query}")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/audit/?")
        page = client.get(response.headers["Location"])
        assert page.status_code == 200
        assert "筛选条件有误，未导出" in page.text
    assert count(db, AuditEvent.action == "audit.export") == 0


@pytest.mark.parametrize(
    "query", ["action=nonsense", "action=%25_", "action=login&page=-3", "actor=%00", "page=x"]
)
def test_odd_filter_values_export_what_they_match(client, trail, query) -> None:
    login(client, "auditor1")
    assert client.get(f"/audit/?{query}").status_code == 200
    response = client.get(f"/audit/export.csv?{query}")
    assert response.status_code == 200
    assert read_csv(response.data)[0] == HEADERS


def test_the_page_offers_both_exports(client, trail) -> None:
    login(client, "auditor1")
    page = client.get("/audit/").text
    assert "导出（Excel）" in page and "导出（CSV）" in page
    assert 'href="/audit/export.csv"' in page


def test_sign_ins_and_failures_appear_in_the_export(client, world) -> None:
    login(client, "staff_a", "wrong-password")
    login(client, "nobody", "wrong-password")
    login(client, "auditor1")
    rows = read_csv(client.get("/audit/export.csv?action=login").data)
    actions = [(row[1], row[2]) for row in rows[1:]]
    assert ("staff_a", "登录失败（密码错误）") in actions
    assert ("auditor1", "登录") in actions
    assert any(login_name == "nobody" for login_name, _ in actions)


# Measures, in a fresh process, how far exporting the trail raises the process's peak memory.
_MEASURE_EXPORT = """
import json, resource, sys
from app import create_app
url, instance, password = sys.argv[1:4]
app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": url,
                  "INSTANCE_PATH": instance, "WTF_CSRF_ENABLED": False})
client = app.test_client()
assert client.post("/login", data={"login": "auditor1", "password": password}).status_code == 302
def export(query):
    response = client.get("/audit/export.csv?" + query, buffered=False)
    assert response.status_code == 200, response.status_code
    chunks = lines = size = 0
    for chunk in response.response:
        chunks, lines, size = chunks + 1, lines + chunk.count(b"\\r\\n"), size + len(chunk)
    response.close()
    return chunks, lines, size
export("action=nothing")  # the same code and queries once, on an empty result
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
chunks, lines, size = export("action=task")
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"chunks": chunks, "lines": lines, "size": size, "grown_kb": grown}))
"""


@pytest.mark.slow
def test_a_large_trail_is_streamed_in_chunks(app: Flask, db: Session, world) -> None:
    """100,000 events (a 20 MB file) are sent as they are read, a chunk at a time: exporting
    them raises the peak memory of the process by a few megabytes, not by the file's size."""
    total = 100_000
    row = {"action": "task.update", "actor_login": "coord1", "object_type": "task", "object_id": 1,
           "before": {"status": "assigned", "text": "x" * 80}, "after": {"status": "accepted"},
           "ip": "10.0.0.1", "at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    for _ in range(0, total, 10_000):
        db.execute(insert(AuditEvent), [row] * 10_000)
    db.commit()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_EXPORT, app.config["DATABASE_URL"], app.instance_path,
         PASSWORD], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["lines"] == total + 1
    assert measured["chunks"] >= total // audit.EXPORT_CHUNK
    assert measured["size"] > 20_000_000
    assert measured["grown_kb"] < 15_000, measured


def test_the_xlsx_export_is_written_row_by_row(tmp_path: Path) -> None:
    """The workbook goes through openpyxl's write-only mode: a long text is cut to Excel's limit
    and characters XML cannot hold are dropped instead of failing the export."""
    rows = [audit.ExportRow(at=datetime(2026, 7, 1, 9, 0), actor="a\x01b", action="评论",
                            object_type="任务", object_id=None, ip="", before="",
                            after="长" * 40_000)]  # fmt: skip
    out = tmp_path / "x.xlsx"
    with out.open("wb") as stream:
        audit.write_xlsx(rows, stream, title="审计日志")
    sheet = load_workbook(out).active
    values = list(sheet.iter_rows(min_row=2, values_only=True))[0]
    assert values[1] == "ab"
    assert len(values[7]) == 32_767 and values[7].endswith("已截断，完整内容见CSV导出）")
