"""Next year's report draft through the service, the pages and the CLI: generate from the
tracked year, edit and version, conflicts, restore, export, and the round trip through the
report importer (.txt and .docx)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlmodel import Session, func, select

from app.clock import utcnow
from app.core import drafting
from app.core.document import to_text
from app.core.errors import DomainError
from app.core.lifecycle import TaskStatus
from app.core.report_parser import parse_report
from app.core.timefmt import local_today
from app.models import (
    AuditEvent,
    Commitment,
    CommitmentProblem,
    Outcome,
    Problem,
    ProgressUpdate,
    Report,
    ReportDraft,
    ReportDraftVersion,
    Task,
)
from app.report_files import read_report_file
from app.services import drafts as service
from app.services import report_import
from tests.conftest import login, reread
from tests.factories import make_task, make_township

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
SEED = (FIXTURES / "seed-2021.txt").read_text(encoding="utf-8")
TZ = "Asia/Shanghai"


def today() -> date:
    return local_today(utcnow(), TZ)


def progress(db: Session, task: Task, text: str, *outcomes: tuple[str, float, str]) -> None:
    db.add(
        ProgressUpdate(
            task_id=task.id,
            text=text,
            created_at=utcnow(),
            outcomes=[Outcome(metric=m, value=v, unit=u) for m, v, u in outcomes],
        )
    )


def close(task: Task, *, late: bool = False) -> None:
    task.status = TaskStatus.CLOSED.value
    task.closed_at = utcnow()
    task.deadline = today() - timedelta(days=3) if late else today() + timedelta(days=30)


@pytest.fixture
def tracked(db: Session) -> dict:
    """The seed report (2021) imported, its commitments tracked in 2022:
    一 持续加大宣传力度: two closed tasks, 7 + 5 次 of one metric (answers problem 一);
    二 持续深化信访工作: open and overdue (linked to problem 二, which stays);
    三 持续推行科学决策: open, not yet due;  四 全面健全工作机制: closed late."""
    town = make_township(db)
    report = report_import.import_report(
        db, unit_id=town["unit"].id, text=SEED, filename="seed-2021.txt", year=2021,
        actor=None, now=utcnow(), default_office_id=town["offices"]["司法所"].id,
    )  # fmt: skip
    commitments = db.exec(
        select(Commitment).where(Commitment.report_id == report.id).order_by(Commitment.position)
    ).all()
    problems = db.exec(
        select(Problem).where(Problem.report_id == report.id).order_by(Problem.position)
    ).all()
    tasks = {c.position: db.exec(select(Task).where(Task.commitment_id == c.id)).first()
             for c in commitments}  # fmt: skip
    extra = make_task(db, town["offices"]["司法所"], "开展校园法治讲座", commitment=commitments[0])
    for task in (tasks[0], extra):
        close(task)
    close(tasks[3], late=True)
    tasks[1].status, tasks[1].deadline = TaskStatus.IN_PROGRESS.value, today() - timedelta(days=5)
    tasks[2].deadline = today() + timedelta(days=20)
    progress(db, tasks[0], "我们在蓬东社区、石桥村开展集中普法宣传，发放资料1200份。",
             ("开展集中普法宣传", 5, "次"), ("发放宣传资料", 1200, "份"))  # fmt: skip
    progress(db, extra, "在官渡中学开展法治讲座，开展集中普法宣传7次。",
             ("开展集中普法宣传", 7, "次"))  # fmt: skip
    progress(db, tasks[1], "梳理信访积案6件。", ("依法终结信访事项", 2, "件"))
    progress(db, tasks[3], "完成规范性文件统一登记、编号、印发，全年印发5件。",
             ("统一印发规范性文件", 5, "件"))  # fmt: skip
    db.add(CommitmentProblem(commitment_id=commitments[0].id, problem_id=problems[0].id))
    db.add(CommitmentProblem(commitment_id=commitments[1].id, problem_id=problems[1].id))
    db.add_all([*tasks.values(), extra])
    db.commit()
    return {"town": town, "report": report, "commitments": commitments, "problems": problems,
            "tasks": tasks, "extra": extra}  # fmt: skip


def generate(db: Session, report: Report, **kwargs) -> ReportDraft:
    draft = service.generate(db, report=report, actor=None, now=utcnow(), today=today(),
                             timezone=TZ, **kwargs)  # fmt: skip
    db.commit()
    return draft


def count(db: Session, model) -> int:
    reread(db)
    return db.exec(select(func.count()).select_from(model)).one()


def form_of(content: drafting.Draft, base: int, **changes) -> dict[str, str]:
    """The edit form as the page posts it (every paragraph, plus the empty new one)."""
    form = {"base_version": str(base), "title": content.title,
            "name_block": "\n".join(content.name_block), "addressee": content.addressee,
            "opening": content.opening.body, "signature": "\n".join(content.signature),
            "date_text": content.date_text, "note": ""}  # fmt: skip
    for section in content.sections:
        form[f"{section.key}-count"] = str(len(section.paragraphs) + 1)
        for i, paragraph in enumerate(section.paragraphs):
            form[f"{section.key}-{i}-heading"] = paragraph.heading
            form[f"{section.key}-{i}-body"] = paragraph.body
    form.update(changes)
    return form


# -- what the draft says ----------------------------------------------------------------------


def test_the_draft_of_the_tracked_year(db: Session, tracked: dict) -> None:
    content = service.fresh(db, tracked["report"], today=today(), timezone=TZ)
    text = to_text(drafting.draft_to_document(content))
    assert content.title == "关于2022年度法治政府建设情况的报告"
    assert text.startswith("中共黔江区蓬东乡委员会\n黔江区蓬东乡人民政府\n关于2022年度法治政府建设")
    assert "区委、区政府：\n2022年，我乡在区委、区政府的坚强领导下" in text
    work = content.section(drafting.WORK).paragraphs
    assert [p.heading for p in work] == ["持续加大宣传力度", "全面健全工作机制"]
    assert work[0].body == (
        "一是在蓬东社区、石桥村开展集中普法宣传，发放宣传资料1200份；二是在官渡中学开展法治讲座。"
        "全年累计开展集中普法宣传12次。"
    )
    # Every closed task's outcome once; the open task's outcome not at all.
    for phrase in ("开展集中普法宣传12次", "发放宣传资料1200份", "统一印发规范性文件5件"):
        assert text.count(phrase) == 1, phrase
    assert "7次" not in text and "5次" not in text and "依法终结信访事项" not in text
    problems = [p.heading for p in content.section(drafting.PROBLEMS).paragraphs]
    assert problems == ["部分任务推进滞后", "部分工作尚未完成", "统筹建设法治政府力度不够",
                        "行政执法队伍整体素质和业务还需加强"]  # fmt: skip
    assert "依法行政工作开展还不够深入" not in text  # answered by 一, whose tasks are all closed
    plans = content.section(drafting.PLANS).paragraphs
    assert [p.heading for p in plans] == ["持续深化信访工作", "持续推行科学决策"]
    assert content.signature == ("中共黔江区蓬东乡委员会", "黔江区蓬东乡人民政府")


def test_a_year_without_an_imported_report_is_refused(db: Session, tracked: dict, app) -> None:
    unit_id = tracked["town"]["unit"].id
    assert service.source_report(db, unit_id, 2022).id == tracked["report"].id
    with pytest.raises(DomainError, match="没有找到2022年度的报告.*请先导入2022年度报告"):
        service.source_report(db, unit_id, 2023)
    result = app.test_cli_runner().invoke(args=["draft-report", "--year", "2021", "-o", "x.txt"])
    assert result.exit_code == 1 and "没有找到2020年度的报告" in result.output


# -- the command line and the round trip -------------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".docx", ".md"])
def test_cli_export_reads_back_through_the_importer(
    app, db: Session, tracked: dict, tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"draft{suffix}"
    result = app.test_cli_runner().invoke(args=["draft-report", "--year", "2022", "-o",
                                                str(target)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "（按任务办理情况生成，依据2021年度报告）" in result.output
    if suffix == ".md":
        assert target.read_text(encoding="utf-8").startswith("# 中共黔江区蓬东乡委员会")
        return
    parsed = parse_report(read_report_file(target.name, target.read_bytes()))
    content = service.fresh(db, tracked["report"], today=today(), timezone=TZ)
    assert (parsed.title, parsed.year, parsed.unit) == (content.title, 2022, "黔江区蓬东乡人民政府")
    assert parsed.plan_heading == "三、下一步打算"
    assert [p.lead for p in parsed.plans] == ["持续深化信访工作", "持续推行科学决策"]
    assert [p.lead for p in parsed.problems] == [
        p.heading for p in content.section(drafting.PROBLEMS).paragraphs]  # fmt: skip
    assert len(parsed.achievements) == 2 and not parsed.warnings


def test_the_exported_draft_imports_as_next_years_report(db: Session, tracked: dict) -> None:
    """The loop closes: the draft, exported as .docx and imported, is the 2022 report whose
    commitments are the unfinished ones, each flagged as repeating last year's."""
    draft = generate(db, tracked["report"])
    _, content = service.current(db, draft)
    data = service.render(content, "docx")
    report = report_import.import_report(
        db, unit_id=draft.unit_id, text=read_report_file("初稿.docx", data), filename="初稿.docx",
        year=None, actor=None, now=utcnow(),
        default_office_id=tracked["town"]["offices"]["司法所"].id,
    )  # fmt: skip
    db.commit()
    assert report.year == 2022
    new = db.exec(select(Commitment).where(Commitment.report_id == report.id)
                  .order_by(Commitment.position)).all()  # fmt: skip
    assert [c.lead for c in new] == ["持续深化信访工作", "持续推行科学决策"]
    old = {c.id: c.lead for c in tracked["commitments"]}
    assert [old.get(c.repeats_id) for c in new] == ["持续深化信访工作", "持续推行科学决策"]


def test_cli_saved_exports_the_coordinators_version(app, db: Session, tracked: dict,
                                                    tmp_path: Path) -> None:  # fmt: skip
    runner = app.test_cli_runner()
    target = tmp_path / "saved.txt"
    result = runner.invoke(args=["draft-report", "--year", "2022", "--saved", "-o", str(target)])
    assert result.exit_code == 1 and "尚未在网页上生成和保存" in result.output
    draft = generate(db, tracked["report"])
    _, content = service.current(db, draft)
    edits = drafting.DraftEdits(content.title, "", "区委、区政府：", "改写后的开头。", "某乡",
                                "2023年1月5日", {})  # fmt: skip
    service.save(db, draft=draft, base_version=1, edits=edits, note="", actor=None, now=utcnow(),
                 timezone=TZ)  # fmt: skip
    db.commit()
    result = runner.invoke(args=["draft-report", "--year", "2022", "--saved", "-o", str(target)])
    assert result.exit_code == 0 and "第2版" in result.output
    assert "改写后的开头。" in target.read_text(encoding="utf-8")
    for args, message in ((["-o", str(tmp_path / "x.pdf")], "扩展名须为"),
                          (["-o", str(tmp_path / "no" / "x.txt")], "目录不存在"),
                          (["--unit", "别处", "-o", str(target)], "找不到单位")):  # fmt: skip
        result = runner.invoke(args=["draft-report", "--year", "2022", *args])
        assert result.exit_code != 0 and message in result.output, args


# -- pages ----------------------------------------------------------------------------------


def test_generate_edit_and_export_through_the_pages(client, db: Session, tracked: dict) -> None:
    login(client, "coord1")
    report = tracked["report"]
    page = client.get(f"/drafts/new?report_id={report.id}")
    assert page.status_code == 200
    assert "关于2022年度法治政府建设情况的报告" in page.text and "持续加大宣传力度" in page.text
    response = client.post(f"/drafts/new?report_id={report.id}", data={"dated": "2023-01-05"})
    assert response.status_code == 302
    draft = db.exec(select(ReportDraft)).one()
    assert response.headers["Location"].endswith(f"/drafts/{draft.id}")
    page = client.get(f"/drafts/{draft.id}")
    assert page.status_code == 200
    assert "全年累计开展集中普法宣传12次" in page.text and "2023年1月5日" in page.text
    for task in (tracked["tasks"][0], tracked["extra"]):  # sources beside the sentence
        assert f'href="/tasks/{task.id}"' in page.text
    assert "发放资料1200份" in page.text  # the update itself, shown as a source
    assert 'name="work-0-body"' in page.text and 'name="base_version" value="1"' in page.text
    reread(db)
    _, content = service.current(db, db.get(ReportDraft, draft.id))
    form = form_of(content, 1, **{"work-0-heading": "强化法治宣传", "note": "改写小标题"})
    assert client.post(f"/drafts/{draft.id}", data=form).status_code == 302
    assert count(db, ReportDraftVersion) == 2
    _, content = service.current(db, db.get(ReportDraft, draft.id))
    assert content.section(drafting.WORK).paragraphs[0].heading == "强化法治宣传"
    assert content.section(drafting.WORK).paragraphs[0].sentences  # sources kept
    export = client.get(f"/drafts/{draft.id}/export/docx")
    assert export.status_code == 200
    assert export.mimetype == service.DOCX_MIME
    name = quote("关于2022年度法治政府建设情况的报告（初稿第2版）.docx")
    assert f"filename*=UTF-8''{name}" in export.headers["Content-Disposition"]
    parsed = parse_report(read_report_file("x.docx", export.data))
    assert parsed.achievements[0].heading == "强化法治宣传"
    old = client.get(f"/drafts/{draft.id}/export/txt?version=1")
    assert "（一）持续加大宣传力度。" in old.text
    assert quote("初稿第1版") in old.headers["Content-Disposition"]
    assert client.get(f"/drafts/{draft.id}/export/md").text.startswith("# 中共")
    assert client.get(f"/drafts/{draft.id}/export/pdf").status_code == 404
    for version in ("abc", "0", "9"):
        bad = client.get(f"/drafts/{draft.id}/export/txt?version={version}", follow_redirects=True)
        assert "版本号无效" in bad.text or "该初稿没有第9版" in bad.text, version
    reread(db)
    actions = db.exec(select(AuditEvent.action).where(AuditEvent.object_type == "report_draft")
                      .order_by(AuditEvent.id)).all()  # fmt: skip
    assert actions == ["draft.generate", "draft.save", "draft.export", "draft.export",
                       "draft.export"]  # fmt: skip


def test_saving_on_a_stale_version_is_refused_and_the_text_comes_back(
    client, db: Session, tracked: dict
) -> None:
    draft = generate(db, tracked["report"])
    _, content = service.current(db, draft)
    login(client, "coord1")
    mine = form_of(content, 1, **{"opening": "甲的开头。"})
    theirs = form_of(content, 1, **{"opening": "乙的开头。", "work-1-body": "乙改写的正文。"})
    assert client.post(f"/drafts/{draft.id}", data=mine).status_code == 302
    refused = client.post(f"/drafts/{draft.id}", data=theirs)
    assert refused.status_code == 409
    assert "未保存：您是在第1版上修改的" in refused.text and "已保存了第2版" in refused.text
    assert "乙的开头。" in refused.text and "乙改写的正文。" in refused.text
    assert 'name="base_version" value="2"' in refused.text
    assert count(db, ReportDraftVersion) == 2
    theirs["base_version"] = "2"  # saving again from the page that came back keeps the text
    assert client.post(f"/drafts/{draft.id}", data=theirs).status_code == 302
    reread(db)
    _, content = service.current(db, db.get(ReportDraft, draft.id))
    assert content.opening.body == "乙的开头。"
    assert service.content_of(service.version_row(db, draft, 2)).opening.body == "甲的开头。"


def test_the_database_refuses_a_second_save_on_the_same_version(
    app, db: Session, tracked: dict
) -> None:
    """Two people who loaded version 1: the second UPDATE finds the version moved on."""
    from app.db import get_engine

    draft = generate(db, tracked["report"])
    _, content = service.current(db, draft)
    other = Session(get_engine(app), expire_on_commit=False)
    try:
        stale = other.get(ReportDraft, draft.id)
        assert stale.current_version == 1
        other.commit()  # ends the read (SQLite would block the writer), keeps the stale object
        edits = drafting.DraftEdits(content.title, "", "", "甲", "", "", {})
        service.save(db, draft=draft, base_version=1, edits=edits, note="", actor=None,
                     now=utcnow(), timezone=TZ)  # fmt: skip
        db.commit()
        with pytest.raises(service.DraftConflict):
            service.save(other, draft=stale, base_version=1, edits=edits, note="", actor=None,
                         now=utcnow(), timezone=TZ)  # fmt: skip
        other.rollback()
    finally:
        other.close()
    assert count(db, ReportDraftVersion) == 2


def test_bad_edits_are_explained_and_nothing_is_saved(client, db: Session, tracked: dict) -> None:
    draft = generate(db, tracked["report"])
    _, content = service.current(db, draft)
    login(client, "coord1")
    cases = [
        ({"title": "  ", "work-0-body": "保留我的文字"}, 422, "请填写报告标题。"),
        ({"work-0-heading": "长" * 201}, 422, "第1段的标题过长"),
        ({"note": "注" * 201}, 422, "版本说明不超过200字。"),
        ({"base_version": "x"}, 302, None),
        ({"base_version": "7"}, 302, None),
        ({"work-count": "abc"}, 302, None),
    ]
    for changes, status, message in cases:
        response = client.post(f"/drafts/{draft.id}", data=form_of(content, 1, **changes))
        assert response.status_code == status, changes
        if message:
            assert message in response.text
        if "work-0-body" in changes:
            assert "保留我的文字" in response.text
    follow = client.post(f"/drafts/{draft.id}", data=form_of(content, 1, base_version="7"),
                         follow_redirects=True)  # fmt: skip
    assert "该初稿没有第7版" in follow.text
    assert count(db, ReportDraftVersion) == 1


def test_restore_an_old_version_as_a_new_one(client, db: Session, tracked: dict) -> None:
    draft = generate(db, tracked["report"])
    _, first = service.current(db, draft)
    login(client, "coord1")
    client.post(f"/drafts/{draft.id}", data=form_of(first, 1, opening="新的开头。"))
    page = client.get(f"/drafts/{draft.id}/versions/1")
    assert page.status_code == 200 and "这是第 1 版，当前为第 2 版" in page.text
    assert 'name="work-0-body"' not in page.text  # an old version is read, not edited
    stale = client.post(f"/drafts/{draft.id}/versions/1/restore", data={"base_version": "1"},
                        follow_redirects=True)  # fmt: skip
    assert "未保存" in stale.text and count(db, ReportDraftVersion) == 2
    response = client.post(f"/drafts/{draft.id}/versions/1/restore", data={"base_version": "2"})
    assert response.status_code == 302
    reread(db)
    row, content = service.current(db, db.get(ReportDraft, draft.id))
    assert (row.number, row.kind, row.note) == (3, "restore", "恢复第1版")
    assert content == first
    assert client.get(f"/drafts/{draft.id}/versions/9").status_code == 404


def test_regenerate_with_themes_and_bad_generation_input(client, db: Session,
                                                         tracked: dict) -> None:  # fmt: skip
    draft = generate(db, tracked["report"])
    report, commitments = tracked["report"], tracked["commitments"]
    login(client, "coord1")
    url = f"/drafts/new?report_id={report.id}"
    themes = {f"theme-{c.id}": "强化法治建设" for c in (commitments[0], commitments[3])}
    bad = [
        ({"base_version": "1", "dated": "2023-13-01"}, "成文日期格式不正确"),
        ({"base_version": "1", "dated": "1999-01-01"}, "成文日期应在2000年至2100年之间"),
        ({"base_version": "1", f"theme-{commitments[0].id}": "主" * 51}, "不超过50字"),
        ({"base_version": "1", "theme-999999": "甲"}, "不属于该报告"),
        ({"base_version": "1", "theme-abc": "甲"}, "表单内容不完整"),
        ({}, "已由其他用户生成（第1版）"),
        ({"base_version": "x"}, "表单内容不完整"),
        ({"base_version": "0"}, "未保存：您是在第0版上修改的"),
    ]
    for data, message in bad:
        response = client.post(url, data=data)
        assert response.status_code == 200 and message in response.text, data
    assert count(db, ReportDraftVersion) == 1
    response = client.post(url, data={"base_version": "1", "note": "按主题合并", **themes})
    assert response.status_code == 302
    reread(db)
    row, content = service.current(db, db.get(ReportDraft, draft.id))
    assert (row.number, row.kind, row.note) == (2, "generate", "按主题合并")
    work = content.section(drafting.WORK).paragraphs
    assert [(p.heading, len(p.commitment_ids)) for p in work] == [("强化法治建设", 2)]
    assert work[0].body.startswith("一是") and "三是" in work[0].body
    page = client.get(url)
    assert 'value="强化法治建设"' in page.text  # the themes in force are offered again


def test_who_may_do_what(client, db: Session, tracked: dict) -> None:
    draft = generate(db, tracked["report"])
    assert client.get("/drafts/").status_code == 302  # sign in first
    login(client, "leader1")
    assert client.get("/drafts/").status_code == 200
    assert client.get(f"/drafts/{draft.id}").status_code == 200
    page = client.get(f"/drafts/{draft.id}")
    assert 'name="work-0-body"' not in page.text and "全年累计" in page.text
    assert client.get(f"/drafts/{draft.id}/export/txt").status_code == 200
    _, content = service.current(db, draft)
    assert client.post(f"/drafts/{draft.id}", data=form_of(content, 1)).status_code == 403
    new = client.get(f"/drafts/new?report_id={tracked['report'].id}")
    assert new.status_code == 302  # a reader is taken to the draft
    assert client.post(f"/drafts/new?report_id={tracked['report'].id}").status_code == 302
    assert client.post(f"/drafts/{draft.id}/versions/1/restore").status_code == 403
    client.post("/logout")
    login(client, "staff_x")
    assert client.get("/drafts/").status_code == 403
    assert client.get(f"/drafts/{draft.id}").status_code == 403
    assert count(db, ReportDraftVersion) == 1


def test_pages_without_a_draft_and_unknown_ids(client, db: Session, tracked: dict) -> None:
    login(client, "coord1")
    index = client.get("/drafts/")
    assert "生成2022年度报告初稿" in index.text and "尚未生成" in index.text
    assert client.get("/drafts/new").status_code == 404
    assert client.get("/drafts/new?report_id=abc").status_code == 404
    assert client.get("/drafts/new?report_id=99999999999").status_code == 404
    assert client.get("/drafts/12345").status_code == 404
    assert client.get("/drafts/12345/export/docx").status_code == 404
    client.post("/logout")
    login(client, "leader1")
    page = client.get(f"/drafts/new?report_id={tracked['report'].id}")
    assert page.status_code == 200 and "初稿由督办协调员生成" in page.text
    assert client.post(f"/drafts/new?report_id={tracked['report'].id}").status_code == 403


def test_draft_pages_carry_no_inline_script_or_style(client, db: Session, tracked: dict) -> None:
    draft = generate(db, tracked["report"])
    login(client, "coord1")
    pages = ["/drafts/", f"/drafts/new?report_id={tracked['report'].id}", f"/drafts/{draft.id}",
             f"/drafts/{draft.id}/versions/1"]  # fmt: skip
    for page in pages:
        html = client.get(page).text
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts), page
        assert "style=" not in html and "<style" not in html and " on" + "click=" not in html, page
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), page
