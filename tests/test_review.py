"""The progress review end to end: a year of work done through the real workflow (accept,
progress with outcomes, extension requested and approved, the coordinator's own extension,
submit, approve, cancel), then the page, both exports, sending it, the CLI and the leaders'
monthly mail, each read back. Every figure is computed by hand below.

    task office   deadline  what happened (2022)                                   at 10-12
    T1   司法所   06-30     approved 06-20                                         on time
    T2   司法所   07-31     extension to 08-31 approved 07-20; approved 08-05      on time, ext.
    T3   司法所   09-30     the coordinator extends it to 11-30 on 10-20            overdue 5 wd
    T4   综治办   09-30     approved 10-11                                         late
    T5   综治办   04-20     cancelled 05-01                                        left out
    T6   综治办   10-14     cancelled 10-20                                        open, due soon

5 tasks, 3 closed (60%), 2 open, 1 overdue (T3: 10-08, 10-09 are 调休 working days, then
10-10 to 10-12), 2 of 3 on time, 1 extended, 1 cancelled. Outcomes: 开展普法宣传 7 + 5 次,
300 人; 化解矛盾纠纷 3 件.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from io import BytesIO
from urllib.parse import quote

import docx
import pytest
from openpyxl import load_workbook
from sqlalchemy import event
from sqlmodel import Session, select

from app import create_app
from app.core.lifecycle import Action, TaskStatus
from app.core.reminder_policy import ReminderPolicy
from app.core.roles import Role
from app.core.timefmt import to_local
from app.db import dispose, get_engine
from app.models import AuditEvent, Commitment, Outbox, Task, Unit, User
from app.notify.digest import Notice
from app.services import reminders
from app.services import task_workflow as workflow
from app.services.holidays import load_calendar, seed_from_library
from tests.conftest import login, reread
from tests.factories import PASSWORD, make_office, make_report, make_task, make_unit, make_user

AS_OF = "2022-10-12"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FIGURES = "截至2022年10月12日，共有任务5项，已办结3项（60%），在办2项，其中已逾期1项。"


def at(month: int, day: int) -> datetime:
    return datetime(2022, month, day, 2, tzinfo=UTC)  # 10:00 in Beijing


def act(db: Session, task: Task, user, action: Action, month: int, day: int, **fields) -> None:
    workflow.perform(db, task=task, user=user, action=action, request=workflow.Request(**fields),
                     today=date(2022, month, day), now=at(month, day))  # fmt: skip
    db.flush()


def new_task(db, office, title, deadline, commitment=None, created=(1, 10)) -> Task:
    task = make_task(db, office, title, deadline=deadline, commitment=commitment)
    task.created_at = task.updated_at = at(*created)
    db.add(task)
    db.flush()
    return task


def closed_through_the_workflow(db, task, staff, coord, when, outcomes=(), update_on=None):
    act(db, task, staff, Action.ACCEPT, 1, 11)
    act(db, task, staff, Action.UPDATE, *(update_on or when), text="已完成", outcomes=outcomes)
    act(db, task, staff, Action.SUBMIT, *when)
    act(db, task, coord, Action.APPROVE, *when)


@pytest.fixture
def year(db: Session) -> dict:
    seed_from_library(db, [2022])
    unit = make_unit(db, "黔江区蓬东乡人民政府")
    sfs, zzb = make_office(db, unit, "司法所"), make_office(db, unit, "综治办")
    coord = make_user(db, "coord1", Role.COORDINATOR)
    coord.email = "coord@example.cn"
    leader = make_user(db, "leader1", Role.LEADER)
    leader.email = "leader@example.cn"
    make_user(db, "leader2", Role.LEADER)  # no e-mail address: nobody to send to
    staff_a = make_user(db, "staff_a", Role.OFFICE, office=sfs)
    staff_b = make_user(db, "staff_b", Role.OFFICE, office=zzb)
    report = make_report(db, unit, 2021)
    commitment = Commitment(report_id=report.id, position=0, marker="一是", lead="加强宣传",
                            text="一是加强宣传。")  # fmt: skip
    db.add(commitment)
    db.flush()
    t1 = new_task(db, sfs, "T1", date(2022, 6, 30), commitment)
    t2 = new_task(db, sfs, "T2", date(2022, 7, 31), commitment)
    t3 = new_task(db, sfs, "T3", date(2022, 9, 30), commitment)
    t4 = new_task(db, zzb, "T4", date(2022, 9, 30))
    t5 = new_task(db, zzb, "T5", date(2022, 4, 20))
    t6 = new_task(db, zzb, "T6", date(2022, 10, 14))
    closed_through_the_workflow(db, t1, staff_a, coord, (6, 20), [("开展普法宣传", 7, "次")],
                                update_on=(6, 1))  # fmt: skip
    act(db, t2, staff_a, Action.ACCEPT, 1, 11)
    act(db, t2, staff_a, Action.UPDATE, 7, 1, text="宣传",
        outcomes=[("开展普法宣传", 5, "次"), ("开展普法宣传", 300, "人")])  # fmt: skip
    act(db, t2, staff_a, Action.REQUEST_EXTENSION, 7, 15, reason="汛期",
        new_deadline=date(2022, 8, 31))  # fmt: skip
    act(db, t2, coord, Action.DECIDE_EXTENSION, 7, 20, approve=True)
    act(db, t2, staff_a, Action.SUBMIT, 8, 5)
    act(db, t2, coord, Action.APPROVE, 8, 5)
    act(db, t3, staff_a, Action.ACCEPT, 1, 11)
    act(db, t3, coord, Action.EXTEND, 10, 20, reason="统一调整", new_deadline=date(2022, 11, 30))
    closed_through_the_workflow(db, t4, staff_b, coord, (10, 11), [("化解矛盾纠纷", 3, "件")],
                                update_on=(9, 1))  # fmt: skip
    act(db, t5, coord, Action.CANCEL, 5, 1, reason="不再需要")
    act(db, t6, coord, Action.CANCEL, 10, 20, reason="并入其他任务")
    db.commit()
    return {"offices": (sfs, zzb), "tasks": (t1, t2, t3, t4, t5, t6)}


def test_the_page_shows_the_figures_at_the_date(client, year) -> None:
    login(client, "coord1")
    page = client.get(f"/review/?as_of={AS_OF}").text
    assert FIGURES in page
    assert "临近时限（5个工作日内）的任务1项。已办结任务中按期办结2项，按期办结率66.7%" in page
    assert "经批准延期的任务1项。另有1项任务已撤销" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart') == 2
    assert "已办结2/3（66.7%）" in page  # 司法所's bar
    assert "<caption>各单位任务落实情况" in page and '<th scope="col">按期办结率</th>' in page
    assert '<th scope="row">2021年度 一是加强宣传</th><td>3</td><td>2</td><td>1</td>' in page
    assert "已逾期5个工作日" in page and "开展普法宣传" in page and "<td>12次</td>" in page
    assert "司法所（逾期1项）存在逾期未完成任务" in page
    assert "导出通报（Word）" in page and "立即发送给分管领导" in page
    assert " style=" not in page and "<script>" not in page  # the CSP allows neither


def test_a_date_before_the_cancellations_and_extensions(client, year) -> None:
    login(client, "leader1")
    page = client.get("/review/?as_of=2022-04-15").text
    # All six exist; none closed; T5 due 04-20 (3 working days left) is due soon.
    assert "共有任务6项，已办结0项（0%），在办6项，其中已逾期0项。" in page
    assert "临近时限（5个工作日内）的任务1项。" in page and "已撤销" not in page
    assert "立即发送" not in page  # leaders read and export; coordinators send


def test_bad_and_empty_dates(client, year) -> None:
    login(client, "coord1")
    page = client.get("/review/?as_of=2022-02-30").text
    assert "无法识别的日期“2022-02-30”" in page and "已按今天统计" in page
    assert "统计日期不能晚于今天" in client.get("/review/?as_of=2999-01-01").text
    empty = client.get("/review/?as_of=2021-12-31").text
    assert "截至2021年12月31日尚无任务" in empty and "<svg" not in empty


def test_who_may_see_it(client, year) -> None:
    login(client, "staff_a")
    assert client.get("/review/").status_code == 403
    assert client.get("/review/export.xlsx").status_code == 403
    assert client.post("/review/send", data={"as_of": AS_OF}).status_code == 403
    login(client, "leader1")
    assert client.post("/review/send", data={"as_of": AS_OF}).status_code == 403


def test_the_workbook_has_the_figures_and_the_lists(client, year, db) -> None:
    login(client, "leader1")
    response = client.get(f"/review/export.xlsx?as_of={AS_OF}")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote('进度通报数据-2022-10-12.xlsx')}" in disposition
    book = load_workbook(BytesIO(response.data))
    assert book.sheetnames == [
        "总体情况",
        "各单位",
        "下一步打算",
        "逾期任务",
        "每月办结",
        "量化成果",
    ]
    overall = {row[0]: row[1] for row in book["总体情况"].iter_rows(min_row=3, values_only=True)}
    assert (overall["任务总数"], overall["已办结"], overall["已逾期"]) == (5, 3, 1)
    assert overall["按期办结率"] == pytest.approx(2 / 3)
    assert book["总体情况"]["B11"].number_format == "0.0%"
    offices = list(book["各单位"].iter_rows(min_row=3, values_only=True))
    assert [row[:6] for row in offices] == [(1, "司法所", 3, 2, 1, 1), (2, "综治办", 2, 1, 1, 0)]
    overdue = list(book["逾期任务"].iter_rows(min_row=3, values_only=True))
    assert overdue == [(1, "T3", "司法所", "2022年9月30日", "2022年9月30日", 5)]
    outcomes = list(book["量化成果"].iter_rows(min_row=3, values_only=True))
    assert outcomes == [("开展普法宣传", 12, "次", 2), ("开展普法宣传", 300, "人", 1),
                        ("化解矛盾纠纷", 3, "件", 1)]  # fmt: skip
    months = dict(book["每月办结"].iter_rows(min_row=3, values_only=True))
    assert (months["2022年6月"], months["2022年8月"], months["2022年10月"]) == (1, 1, 1)
    reread(db)
    exported = db.exec(select(AuditEvent).where(AuditEvent.action == "review.export")).one()
    assert (
        exported.after == {"as_of": AS_OF, "format": "xlsx"} and exported.actor_login == "leader1"
    )


def test_the_bulletin_is_a_word_document(client, year, db) -> None:
    login(client, "coord1")
    response = client.get(f"/review/export.docx?as_of={AS_OF}")
    assert response.status_code == 200
    assert (
        f"filename*=UTF-8''{quote('进度通报-2022-10-12.docx')}"
        in (response.headers["Content-Disposition"])
    )
    document = docx.Document(BytesIO(response.data))
    text = [p.text for p in document.paragraphs]
    assert text[0] == "法治政府建设任务督查通报"
    assert "关于2022年法治政府建设任务\n落实情况的通报" in text
    assert text.count("黔江区蓬东乡法治政府建设工作领导小组办公室") == 2  # 版头, signature
    assert any(FIGURES in line for line in text)
    assert {"一、总体情况", "二、各单位落实情况", "三、逾期未完成任务", "四、工作要求"} <= set(text)
    cells = [[c.text for c in row.cells] for table in document.tables for row in table.rows]
    assert ["1", "T3", "司法所", "2022年9月30日", "5"] in cells
    reread(db)
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "review.export")).one()


def test_an_export_under_a_bad_date_exports_nothing(client, year, db) -> None:
    login(client, "coord1")
    response = client.get("/review/export.docx?as_of=not-a-date")
    assert response.status_code == 302
    assert "未导出" in client.get(response.headers["Location"]).text
    reread(db)
    assert not db.exec(select(AuditEvent).where(AuditEvent.action == "review.export")).all()


def outbox(db) -> list[Outbox]:
    reread(db)
    return list(db.exec(select(Outbox).order_by(Outbox.id)))


def test_sending_now_queues_one_mail_per_leader(client, year, db) -> None:
    login(client, "coord1")
    page = client.post("/review/send", data={"as_of": AS_OF}, follow_redirects=True).text
    assert "已加入发送队列（1人）" in page
    (row,) = outbox(db)
    assert (row.recipient, row.kind, row.channel, row.status) == (
        "leader@example.cn", "summary", "email", "pending",
    )  # fmt: skip
    notice = Notice.from_json(row.body)
    assert notice.subject == "【进度通报】截至2022年10月12日法治政府建设任务落实情况"
    assert FIGURES in notice.text and "/review/?as_of=2022-10-12" in notice.text
    assert row.idempotency_key.startswith("review.2022-10-12.")
    client.post("/review/send", data={"as_of": AS_OF, "coordinators": "1"})
    rows = outbox(db)
    assert [r.recipient for r in rows] == ["leader@example.cn", "coord@example.cn",
                                           "leader@example.cn"]  # fmt: skip
    assert len({r.idempotency_key for r in rows}) == 3  # a deliberate second send is allowed
    sends = db.exec(select(AuditEvent).where(AuditEvent.action == "review.send")).all()
    assert [e.after["recipients"] for e in sends] == [1, 2]


def test_sending_with_nobody_to_send_to_writes_nothing(client, year, db) -> None:
    for user in db.exec(select(User).where(User.email.is_not(None))):
        user.email = None
        db.add(user)
    db.commit()
    login(client, "coord1")
    page = client.post("/review/send", data={"as_of": AS_OF}, follow_redirects=True).text
    assert "没有可发送的对象" in page
    assert outbox(db) == []
    assert not db.exec(select(AuditEvent).where(AuditEvent.action == "review.send")).all()


def count_statements(app, client, url: str) -> int:
    statements: list[str] = []
    engine = get_engine(app)

    def listener(*args) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_the_page_reads_a_fixed_number_of_queries(client, app, year, db) -> None:
    login(client, "coord1")
    url = "/review/?as_of=2022-10-12"
    few = count_statements(app, client, url)
    unit = db.get(Unit, year["offices"][0].unit_id)
    for n in range(12):
        office = make_office(db, unit, f"新增科室{n}")
        for m in range(3):
            task = new_task(db, office, f"批量任务{n}-{m}", date(2022, 9, 1 + m))
            task.status = TaskStatus.CLOSED.value if m == 0 else TaskStatus.IN_PROGRESS.value
            task.closed_at = at(8, 20) if m == 0 else None
            db.add(task)
    db.commit()
    assert count_statements(app, client, url) == few
    assert few <= 12  # session, user, calendar and the six reads of the review


def test_the_command_writes_the_file_or_nothing(app, year, db, tmp_path) -> None:
    runner = app.test_cli_runner()
    tmp_path = tmp_path / "out"  # the test's database lives beside it
    tmp_path.mkdir()
    target = tmp_path / "通报.docx"
    result = runner.invoke(args=["review", "--as-of", AS_OF, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "任务5项，已办结3项，逾期1项" in result.output
    assert docx.Document(str(target)).paragraphs[0].text == "法治政府建设任务督查通报"
    sheet = tmp_path / "data.bin"
    result = runner.invoke(args=["review", "--as-of", AS_OF, "--format", "xlsx", "-o", str(sheet)])
    assert (
        result.exit_code == 0
        and load_workbook(BytesIO(sheet.read_bytes())).sheetnames[0] == "总体情况"
    )
    for args, code, message in [
        (["--as-of", "2022-13-01", "-o", str(tmp_path / "a.docx")], 2, "无法识别的日期"),
        (["--as-of", AS_OF, "-o", str(tmp_path / "a.pdf")], 2, "请用 --format 指定 docx 或 xlsx"),
        (["--as-of", AS_OF, "--format", "pdf", "-o", str(tmp_path / "a.docx")], 2, "docx 或 xlsx"),
        (["--as-of", AS_OF, "-o", str(tmp_path / "missing" / "a.docx")], 1, "目录不存在"),
    ]:
        result = runner.invoke(args=["review", *args])
        assert (result.exit_code, message in result.output) == (code, True), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "通报.docx"]
    reread(db)
    exports = db.exec(select(AuditEvent).where(AuditEvent.action == "review.export")).all()
    assert [(e.actor_login, e.after["format"]) for e in exports] == [("cli", "docx"),
                                                                    ("cli", "xlsx")]  # fmt: skip


def test_the_leaders_monthly_mail_carries_the_review(app, year, db) -> None:
    common = {"calendar": load_calendar(db), "policy": ReminderPolicy(), "base_url": "http://x"}

    def plan(moment: datetime) -> int:
        """The outbox rows after a sweep at MOMENT (the planner's own count is not used: on
        PostgreSQL its INSERT … ON CONFLICT reports no rowcount)."""
        reminders.plan_leader_summary(
            db, now=moment, now_local=to_local(moment, "Asia/Shanghai"), **common
        )
        db.commit()
        return len(outbox(db))

    assert plan(datetime(2022, 10, 8, 0, 30, tzinfo=UTC)) == 0  # 08:30: before the send time
    # 09:30 on 10月8日, a 调休 Saturday: October's first working day.
    assert plan(datetime(2022, 10, 8, 1, 30, tzinfo=UTC)) == 1
    assert plan(datetime(2022, 10, 10, 1, 30, tzinfo=UTC)) == 1  # once a month
    (row,) = outbox(db)
    notice = Notice.from_json(row.body)
    assert (row.recipient, notice.kind, notice.key) == ("leader@example.cn", "summary",
                                                         "summary.2022-10-08")  # fmt: skip
    assert notice.subject == "【月度进展】2022年10月法治政府建设任务落实情况"
    # On 10-08 T4 is still open and, like T3, past its 09-30 deadline (by 1 working day).
    assert (
        "截至2022年10月8日，共有任务5项，已办结2项（40%），在办3项，其中已逾期2项。" in notice.text
    )
    assert "已逾期1个工作日" in notice.text


def test_sending_needs_the_form_token(database_url, tmp_path, year, db) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-test", "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path / "csrf")})  # fmt: skip
    try:
        client = app.test_client()
        token = CSRF.search(client.get("/login").text).group(1)
        client.post("/login", data={"login": "coord1", "password": PASSWORD, "csrf_token": token})
        assert client.post("/review/send", data={"as_of": AS_OF}).status_code == 400
        assert outbox(db) == []
        page = client.get(f"/review/?as_of={AS_OF}").text
        response = client.post(
            "/review/send", data={"as_of": AS_OF, "csrf_token": CSRF.search(page).group(1)}
        )
        assert response.status_code == 302 and len(outbox(db)) == 1
    finally:
        dispose(app)
