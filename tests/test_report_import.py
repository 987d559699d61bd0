"""Importing a report: upload → preview → edit → confirm, through the pages and the CLI."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from app.core.lifecycle import TaskStatus
from app.models import (
    AuditEvent,
    Commitment,
    DeadlineChange,
    ImportDraft,
    Office,
    Problem,
    Report,
    Task,
)
from tests.conftest import login, reread
from tests.factories import make_report, make_task, make_township

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
SEED = (FIXTURES / "seed-2021.txt").read_bytes()


@pytest.fixture
def township(db: Session) -> dict:
    return make_township(db)


def count(db: Session, model) -> int:
    reread(db)
    return db.exec(select(func.count()).select_from(model)).one()


def upload(client, unit_id: int, data: bytes = SEED, name: str = "seed-2021.txt", **fields):
    from io import BytesIO

    form = {"unit_id": str(unit_id), "file": (BytesIO(data), name), **fields}
    return client.post("/reports/import", data=form, content_type="multipart/form-data")


def preview_url(response) -> str:
    location = response.headers["Location"]
    assert re.fullmatch(r"/reports/import/\d+", location), location
    return location


def test_upload_shows_a_preview_and_writes_nothing_else(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    html = client.get(url).text
    for lead in ["持续加大宣传力度", "持续深化信访工作", "持续推行科学决策", "全面健全工作机制"]:
        assert lead in html
    assert html.count('class="src-mark"') == 4  # each commitment marked in the original text
    assert "依法行政工作开展还不够深入" in html  # the problems, to link commitments to
    assert count(db, Report) == 0 and count(db, Task) == 0 and count(db, Commitment) == 0
    assert count(db, ImportDraft) == 1


def test_proposals_follow_rules_heads_and_the_calendar(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    draft = db.exec(select(ImportDraft)).one()
    tasks = [c["tasks"][0] for c in draft.plan["commitments"]]
    offices = township["offices"]
    assert [t["office_id"] for t in tasks] == [
        offices["司法所"].id, offices["信访办"].id, offices["党政办"].id, offices["党政办"].id
    ]  # fmt: skip
    assert tasks[0]["owner_id"] == township["head"].id
    # No time phrase: the end of the plan year, 2022-12-31, a Saturday -> Friday 2022-12-30.
    assert {t["deadline"] for t in tasks} == {"2022-12-30"}
    assert "该时限已过，请调整" in client.get(url).text  # 2022 is long past
    assert "2022年12月30日" in client.get(url).text or "2022-12-30" in client.get(url).text


def test_edit_then_confirm_creates_everything_at_once(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    page = client.get(url).text
    form = _form_fields(page)
    form["c-0-lead"] = "加大法治宣传力度"
    form["c-0-problems"] = ["0"]
    form["t-1-0-deadline"] = "2022-06-30"
    form["action"] = "drop-2"
    response = client.post(url, data=form)
    assert response.status_code == 302
    draft = (reread(db), db.exec(select(ImportDraft)).one())[1]
    assert [c["lead"] for c in draft.plan["commitments"]] == [
        "加大法治宣传力度", "持续深化信访工作", "全面健全工作机制"
    ]  # fmt: skip
    form = _form_fields(client.get(url).text)
    form["action"] = "measures-2"
    client.post(url, data=form)
    form = _form_fields(client.get(url).text)
    form["action"] = "confirm"
    response = client.post(url, data=form)
    assert response.status_code == 302 and "/tasks/" in response.headers["Location"]
    report = (reread(db), db.exec(select(Report)).one())[1]
    assert (report.year, report.status, report.source_filename) == (
        2021,
        "imported",
        "seed-2021.txt",
    )
    commitments = db.exec(select(Commitment).order_by(Commitment.position)).all()
    assert [c.lead for c in commitments] == [
        "加大法治宣传力度",
        "持续深化信访工作",
        "全面健全工作机制",
    ]
    assert [p.lead for p in commitments[0].problems] == ["依法行政工作开展还不够深入"]
    assert report.source_text[commitments[1].source_start : commitments[1].source_end] == (
        commitments[1].text
    )
    assert count(db, Problem) == 3
    tasks = db.exec(select(Task).order_by(Task.id)).all()
    assert len(tasks) == 4  # one each, and two for the commitment split into its measures
    assert tasks[1].deadline == date(2022, 6, 30)
    assert all(t.status == TaskStatus.ASSIGNED.value for t in tasks)
    assert count(db, DeadlineChange) == 4
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "report.import")).one()
    assert event.after["tasks"] == 4
    listed = client.get(response.headers["Location"]).text
    assert "规范性文件备案制度和监督制度" in listed or "工作机制" in listed


def _form_fields(html: str) -> dict:
    """The preview form's current values, as a browser would submit them."""
    fields: dict = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        fields[name] = value
    for name, value in re.findall(
        r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*checked', html
    ):
        fields.setdefault(name + "[]", []).append(value)
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        fields[name] = _unescape(body)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        fields[name] = chosen.group(1) if chosen else ""
    checked = {k[:-2]: v for k, v in fields.items() if k.endswith("[]")}
    fields = {k: v for k, v in fields.items() if not k.endswith("[]")}
    fields.update(checked)
    return {k: _unescape(v) if isinstance(v, str) else v for k, v in fields.items()}


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_bad_dates_and_actions_change_nothing(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    before = (reread(db), db.exec(select(ImportDraft)).one().plan)[1]
    form = _form_fields(client.get(url).text)
    form["t-0-0-deadline"] = "2022-02-30"
    response = client.post(url, data=form, follow_redirects=True)
    assert "不是有效日期" in response.text
    form = _form_fields(client.get(url).text)
    form["action"] = "merge-3"  # there is nothing after the last commitment
    assert "没有第5项承诺" in client.post(url, data=form, follow_redirects=True).text
    reread(db)
    assert db.exec(select(ImportDraft)).one().plan == before


def test_confirm_refuses_a_task_without_office(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    form = _form_fields(client.get(url).text)
    form["t-0-0-office"] = ""
    form["action"] = "confirm"
    response = client.post(url, data=form, follow_redirects=True)
    assert "第1项承诺的第1项任务尚未指定牵头单位" in response.text
    assert count(db, Report) == 0 and count(db, Task) == 0


def test_discard_leaves_nothing(client, township, db) -> None:
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    form = _form_fields(client.get(url).text)
    form["action"] = "discard"
    assert "已放弃本次导入" in client.post(url, data=form, follow_redirects=True).text
    assert count(db, Report) == 0 and count(db, Task) == 0


def _confirm(client, url: str) -> None:
    form = _form_fields(client.get(url).text)
    form["action"] = "confirm"
    assert client.post(url, data=form).status_code == 302


def test_importing_the_same_report_twice_warns_and_creates_nothing(client, township, db) -> None:
    login(client, "coord1")
    _confirm(client, preview_url(upload(client, township["unit"].id)))
    tasks = count(db, Task)
    again = upload(client, township["unit"].id)
    assert again.status_code == 200 and "不会重复导入" in again.text
    # The same year again under another file (here: the text pasted, with other line endings).
    pasted = SEED.decode("utf-8").replace("\n", "\r\n") + "\n补充说明。"
    response = client.post("/reports/import", data={"unit_id": township["unit"].id, "text": pasted})
    assert "不会重复导入" in response.text
    assert count(db, Task) == tasks and count(db, Report) == 1


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [(b"", "empty.txt", "为空"), (b"\xd0\xcf\x11\xe0" + b"\0" * 600, "old.doc", ".docx"),
     (b"PK\x03\x04not really", "broken.docx", "Word"), (b"\x00\x01\x02" * 100, "x.txt", "文本")],
)  # fmt: skip
def test_bad_files_get_a_message_and_write_nothing(client, township, db, data, name, message):
    login(client, "coord1")
    response = upload(client, township["unit"].id, data, name)
    assert response.status_code == 200 and message in response.text
    assert count(db, ImportDraft) == 0


def test_a_report_without_plans_is_explained(client, township, db) -> None:
    login(client, "coord1")
    response = upload(client, township["unit"].id, (FIXTURES / "s06.txt").read_bytes(), "s06.txt")
    assert "下一步打算" in response.text and response.status_code == 200
    assert count(db, ImportDraft) == 0


def test_nothing_to_import_is_explained(client, township) -> None:
    login(client, "coord1")
    response = client.post("/reports/import", data={"unit_id": township["unit"].id})
    assert "请选择报告文件，或粘贴报告全文" in response.text


def test_a_repeat_of_last_years_commitment_is_flagged(client, township, db) -> None:
    last_year = make_report(db, township["unit"], 2020)
    old = Commitment(report_id=last_year.id, position=0, lead="加大宣传力度", text="加大宣传力度。")
    db.add(old)
    db.flush()
    make_task(db, township["offices"]["司法所"], "去年的宣传任务", commitment=old,
              status=TaskStatus.CLOSED)  # fmt: skip
    db.commit()
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    html = client.get(url).text
    assert "与 2020 年度承诺“加大宣传力度”重复或相近" in html and "已办结1项" in html
    _confirm(client, url)
    reread(db)
    query = select(Commitment).where(Commitment.report_id != last_year.id)
    first = db.exec(query.where(Commitment.position == 0)).one()
    assert first.repeats_id == old.id


@pytest.mark.parametrize("login_name", ["leader1", "staff_x"])
def test_only_coordinators_import(client, township, login_name) -> None:
    login(client, login_name)
    assert client.get("/reports/import").status_code == 403
    assert upload(client, township["unit"].id).status_code == 403


def test_cli_import_report_creates_tasks_and_refuses_a_second_time(app, township, db) -> None:
    runner = app.test_cli_runner()
    path = str(FIXTURES / "seed-2021.txt")
    result = runner.invoke(args=["import-report", path, "--year", "2021"])
    assert result.exit_code == 0, result.output
    assert "已导入" in result.output and "牵头：司法所" in result.output
    assert "2022年12月30日" in result.output
    assert count(db, Task) == 4
    again = runner.invoke(args=["import-report", path, "--year", "2021"])
    assert again.exit_code != 0 and "不会重复导入" in again.output
    assert count(db, Task) == 4


def test_cli_import_report_needs_an_office_for_every_task(app, township, db) -> None:
    runner = app.test_cli_runner()
    for rule_office in db.exec(select(Office)):
        rule_office.is_active = rule_office.short_name != "党政办"
    db.commit()
    path = str(FIXTURES / "seed-2021.txt")
    result = runner.invoke(args=["import-report", path, "--year", "2021"])
    assert result.exit_code != 0 and "尚未指定牵头单位" in result.output
    assert count(db, Report) == 0
    result = runner.invoke(
        args=["import-report", path, "--year", "2021", "--default-office", "司法所"]
    )
    assert result.exit_code == 0, result.output


def test_cli_parse_report_json_follows_the_gold_schema(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["parse-report", str(FIXTURES / "seed-2021.txt"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    gold = json.loads((FIXTURES / "seed-2021.json").read_text(encoding="utf-8"))
    for key in ("title", "unit", "year", "plan_heading"):
        assert data[key] == gold[key]
    assert data["sections"]["achievements"] == gold["sections"]["achievements"]
    assert data["sections"]["problems"] == gold["sections"]["problems"]
    assert [(p["marker"], p["lead"], p["text"]) for p in data["sections"]["plans"]] == [
        (p["marker"], p["lead"], p["text"]) for p in gold["sections"]["plans"]
    ]


def test_cli_parse_report_fails_clearly(app, tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = app.test_cli_runner().invoke(args=["parse-report", str(empty)])
    assert result.exit_code != 0 and "为空" in result.output
    missing = app.test_cli_runner().invoke(args=["parse-report", str(tmp_path / "nope.txt")])
    assert missing.exit_code != 0 and "无法读取文件" in missing.output


def test_a_failure_during_confirm_leaves_nothing_behind(client, township, db) -> None:
    """Confirm writes the report first and the tasks after; a task that fails at the end must
    take the report, problems and commitments with it."""
    from app.models import User

    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    form = _form_fields(client.get(url).text)
    form["t-3-0-owner"] = str(township["head"].id)  # the last task's owner...
    client.post(url, data=form)
    head = db.get(User, township["head"].id)
    head.is_active = False  # ...is deactivated before the coordinator confirms
    db.commit()
    form = _form_fields(client.get(url).text)
    form["t-0-0-owner"] = ""
    form["t-3-0-owner"] = str(head.id)  # the form was opened before the deactivation
    form["action"] = "confirm"
    response = client.post(url, data=form, follow_redirects=True)
    assert "责任人无效" in response.text
    assert count(db, Report) == 0 and count(db, Commitment) == 0 and count(db, Problem) == 0
    assert count(db, Task) == 0


def test_report_page_shows_the_repeat_and_the_problem_links(client, township, db) -> None:
    last_year = make_report(db, township["unit"], 2020)
    db.add(
        Commitment(report_id=last_year.id, position=0, lead="加大宣传力度", text="加大宣传力度。")
    )
    db.commit()
    login(client, "coord1")
    url = preview_url(upload(client, township["unit"].id))
    form = _form_fields(client.get(url).text)
    form["c-1-problems"] = ["2"]
    form["action"] = "confirm"
    client.post(url, data=form)
    reread(db)
    report = db.exec(select(Report).where(Report.year == 2021)).one()
    html = client.get(f"/reports/{report.id}").text
    assert "与上年重复" in html and f"/reports/{last_year.id}" in html
    assert "针对问题：行政执法队伍整体素质和业务还需加强" in html


def test_a_quarterly_duty_becomes_a_recurring_task(client, township, db) -> None:
    text = (
        "关于2022年度法治政府建设情况的报告\n\n三、下一步打算\n"
        "一是加强依法行政工作督查，每季度报告一次进展，年底前完成全面检查。\n"
        "二是每季度开展一次普法宣传活动。\n"
    )
    login(client, "coord1")
    url = preview_url(
        client.post("/reports/import", data={"unit_id": township["unit"].id, "text": text})
    )
    form = _form_fields(client.get(url).text)
    form["t-0-0-office"] = str(township["offices"]["党政办"].id)  # no keyword rule matched it
    form["action"] = "confirm"
    assert client.post(url, data=form).status_code == 302
    reread(db)
    tasks = db.exec(select(Task).order_by(Task.id)).all()
    assert [t.recurrence for t in tasks] == ["quarterly", "quarterly"]
    assert tasks[1].deadline.year == 2023
    assert "每季度报送进展" in client.get(f"/tasks/{tasks[1].id}").text
