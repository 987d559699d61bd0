"""Pages render real data in Chinese, filter and paginate, and explain bad input."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import Session

from app.core.lifecycle import TaskStatus
from app.models import DeadlineChange, Outcome, ProgressUpdate
from tests.conftest import login, reread
from tests.factories import World, make_task


def test_task_page_shows_source_history_and_progress(client, world: World, db: Session) -> None:
    task = world.task_a
    db.add(DeadlineChange(task_id=task.id, new_deadline=date(2026, 12, 31), reason="初始时限"))
    db.add(ProgressUpdate(task_id=task.id, text="已开展宣传", outcomes=[
        Outcome(metric="开展普法宣传", value=12, unit="次")]))  # fmt: skip
    db.commit()
    login(client, "coord1")
    html = client.get(f"/tasks/{task.id}").text
    expectations = ["甲科室的任务", "2026年12月31日", "加强宣传", "已开展宣传", "开展普法宣传 12次",
                    "初始时限", "待签收", "关于2021年度法治政府建设情况的报告"]  # fmt: skip
    for expected in expectations:
        assert expected in html, expected


def test_task_list_filters(client, world: World, db: Session) -> None:
    make_task(db, world.office_a, "开展宪法宣传周活动", status=TaskStatus.IN_PROGRESS)
    db.commit()
    login(client, "coord1")
    assert "开展宪法宣传周活动" in client.get("/tasks/?q=宪法").text
    assert "乙科室的任务" not in client.get("/tasks/?q=宪法").text
    by_office = client.get(f"/tasks/?office_id={world.office_b.id}").text
    assert "乙科室的任务" in by_office and "甲科室的任务" not in by_office
    by_status = client.get("/tasks/?status=in_progress").text
    assert "开展宪法宣传周活动" in by_status and "乙科室的任务" not in by_status


def test_task_list_ignores_malformed_filters(client, world: World) -> None:
    login(client, "coord1")
    for query in ["?office_id=abc", "?status=nonsense", "?page=-3", "?page=zzz", "?page=99999"]:
        response = client.get(f"/tasks/{query}")
        assert response.status_code == 200, query
        assert "甲科室的任务" in response.text


def test_task_list_paginates(client, world: World, db: Session, app) -> None:
    app.config["PAGE_SIZE"] = 2
    login(client, "coord1")
    first = client.get("/tasks/").text
    assert "第 1 / 2 页，共 3 条" in first and "下一页" in first
    second = client.get("/tasks/?page=2").text
    assert "第 2 / 2 页" in second and "上一页" in second


def test_dates_are_shown_the_chinese_way(client, world: World) -> None:
    login(client, "staff_a")
    assert "2026年12月31日" in client.get("/tasks/mine").text


def test_reports_and_review_pages(client, world: World) -> None:
    login(client, "leader1")
    reports = client.get("/reports/").text
    assert "关于2021年度法治政府建设情况的报告" in reports
    assert "加强宣传" in client.get("/reports/1").text
    review = client.get("/review/").text
    assert "任务总数 <strong>3</strong>" in review and "甲科室" in review
    assert client.get("/reports/99999").status_code == 404


def test_audit_page_filters_and_explains_bad_dates(client, world: World) -> None:
    login(client, "coord1")
    client.post("/logout")
    login(client, "auditor1")
    body = client.get("/audit/?actor=coord1").text.split("<tbody>")[1]
    assert "<td>退出</td>" in body and "<td>登录</td>" in body and "auditor1" not in body
    login_family = client.get("/audit/?action=login").text.split("<tbody>")[1]
    assert "<td>退出</td>" in login_family
    assert "<td>退出</td>" not in client.get("/audit/?action=task").text.split("<tbody>")[1]
    bad = client.get("/audit/?date_from=2026-13-45")
    assert bad.status_code == 200 and "不是有效的日期值" in bad.text
    assert "没有符合条件的记录" in client.get("/audit/?date_to=2000-01-01").text


def test_unknown_pages_get_a_chinese_404(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "页面不存在" in response.text


def test_healthz_reports_the_database_and_the_scheduler(app, client) -> None:
    from datetime import timedelta

    from app.clock import utcnow
    from app.db import get_engine
    from app.services.scheduler_nodes import LEADER, STANDBY, beat

    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {
        "status": "ok", "database": "ok", "scheduler": {"status": "missing", "last_tick": None},
    }  # fmt: skip
    engine, now = get_engine(app), utcnow()
    beat(engine, "host-a/1", LEADER, now - timedelta(minutes=4), ticked=True)
    beat(engine, "host-b/2", STANDBY, now - timedelta(seconds=20))
    scheduler = client.get("/healthz").get_json()["scheduler"]
    assert scheduler["status"] == "ok" and 230 <= scheduler["age_seconds"] <= 250
    assert scheduler["leader"] == "host-a/1"
    assert {(n["node"], n["role"]) for n in scheduler["nodes"]} == {
        ("host-a/1", "leader"),
        ("host-b/2", "standby"),
    }
    beat(engine, "host-a/1", LEADER, now - timedelta(hours=2), ticked=True)
    assert client.get("/healthz").get_json()["scheduler"]["status"] == "stale"
    # A standby took over and ticked: ok again, and it is the leader now.
    beat(engine, "host-b/2", LEADER, now, ticked=True)
    scheduler = client.get("/healthz").get_json()["scheduler"]
    assert scheduler["status"] == "ok" and scheduler["leader"] == "host-b/2"


def test_healthz_says_503_when_the_database_is_gone(tmp_path) -> None:
    from app import create_app

    missing = "postgresql+psycopg://postgres@127.0.0.1:9/luoshi"  # nothing listens on port 9
    broken = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                         "DATABASE_URL": missing})  # fmt: skip
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


def test_pages_carry_no_inline_script_or_style(client, world: World) -> None:
    login(client, "coord1")
    for page in ["/tasks/", f"/tasks/{world.task_a.id}", "/reports/", "/review/"]:
        html = client.get(page).text
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts), page
        assert "style=" not in html and "<style" not in html and " on" + "click=" not in html, page


def test_form_fields_are_labelled(client, world: World) -> None:
    import re

    login(client, "admin1")
    html = client.get("/admin/users/new").text
    ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)) - {"csrf_token"}
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    assert ids and ids <= labelled


def test_ids_too_large_for_the_database_are_404_not_500(client, db) -> None:
    from tests.factories import make_world

    make_world(db)
    db.commit()
    login(client, "coord1")
    for url in ("/tasks/99999999999999999999999", "/tasks/2147483648",
                "/offices/99999999999999999999", "/reports/9223372036854775808"):  # fmt: skip
        assert client.get(url).status_code == 404, url


def test_dates_no_plan_can_have_are_refused_not_500(client, db) -> None:
    from tests.factories import make_world

    make_world(db)
    db.commit()
    login(client, "auditor1")
    page = client.get("/audit/?date_to=9999-12-31&date_from=0001-01-01")
    assert page.status_code == 200
    assert "日期须在2000年至2100年之间" in page.get_data(as_text=True)
    client.post("/logout")
    login(client, "coord1")
    page = client.get("/tasks/?due_to=9999-12-31")
    assert page.status_code == 200
    assert "日期须在2000年至2100年之间" in page.get_data(as_text=True)


def test_a_database_that_went_away_gives_503_and_keeps_nothing(app, client, world: World,
                                                               db: Session) -> None:  # fmt: skip
    """A signed-in user's pages while the database is unreachable (the engine swapped for one
    whose server does not listen: psycopg's real connection error): a Chinese 503 page with
    Retry-After, nothing kept, and service as before once the database is back."""
    from sqlmodel import select

    from app.db import _ENGINE_KEY, _READ_ENGINE_KEY, make_engine

    login(client, "staff_a")
    task_id = world.task_a.id
    assert client.post(f"/tasks/{task_id}/act/accept").status_code == 302
    saved = app.extensions[_ENGINE_KEY], app.extensions[_READ_ENGINE_KEY]
    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/luoshi")  # nothing on port 9
    app.extensions[_ENGINE_KEY] = app.extensions[_READ_ENGINE_KEY] = gone
    try:
        page = client.get(f"/tasks/{task_id}")
        posted = client.post(f"/tasks/{task_id}/act/update", data={"text": "停机期间的进展"})
    finally:
        app.extensions[_ENGINE_KEY], app.extensions[_READ_ENGINE_KEY] = saved
        gone.dispose()
    for response in (page, posted):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert "数据库暂时无法连接" in response.text and "没有保存" in response.text
    assert db.exec(select(ProgressUpdate)).all() == []
    assert client.get(f"/tasks/{task_id}").status_code == 200  # the same session, back again
    after = client.post(f"/tasks/{task_id}/act/update", data={"text": "恢复后的进展"})
    assert after.status_code == 302
    reread(db)
    assert [u.text for u in db.exec(select(ProgressUpdate))] == ["恢复后的进展"]


def test_a_wrong_statement_is_a_500_not_a_503(app, client) -> None:
    """Only an unreachable database is 'temporarily unavailable'; a statement the database
    refuses is a bug and must be seen as one."""
    from sqlalchemy import text

    from app.db import get_session

    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/broken-statement")
    def broken_statement():
        get_session().exec(text("SELECT * FROM no_such_table"))
        return "unreachable"

    response = client.get("/broken-statement")
    assert response.status_code == 500 and "系统错误" in response.text


def test_a_connection_lost_after_the_answer_does_not_turn_it_into_a_500(
    app, client, database_url
) -> None:
    """A page that only read is answered; if the database goes away before the request ends,
    the rollback at teardown fails, and there is nothing to undo: the answer stands (it was a
    bare 500 when PostgreSQL crashed under load)."""
    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from app.db import get_session

    if not database_url.startswith("postgresql"):
        pytest.skip("a connection that another session can end: PostgreSQL's")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/read-then-lose-the-connection")
    def read_then_lose_the_connection():
        session = get_session()
        pid = session.exec(text("SELECT pg_backend_pid()")).one()[0]
        other = create_engine(database_url, poolclass=NullPool)
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        return "read"

    response = client.get("/read-then-lose-the-connection")
    assert response.status_code == 200 and response.text == "read"
    assert client.get("/healthz").status_code == 200  # the pool moved on to a new connection
