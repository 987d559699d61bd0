"""The task page: each role sees the actions it may take, and the actions work end to end."""

from __future__ import annotations

from io import BytesIO

from sqlmodel import Session, select

from app.core.lifecycle import TaskStatus
from app.models import Attachment, ExtensionRequest, ProgressUpdate, Task
from tests.conftest import login, reread
from tests.factories import World

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def act(client, task_id: int, action: str, **data):
    return client.post(f"/tasks/{task_id}/act/{action}", data=data, follow_redirects=True)


def status(db: Session, task_id: int) -> str:
    reread(db)
    return db.get(Task, task_id).status


def test_office_signs_reports_submits_and_coordinator_returns_then_approves(
    client, app, world: World, db: Session
) -> None:
    task_id = world.task_a.id
    login(client, "staff_a")
    page = client.get(f"/tasks/{task_id}").text
    assert ">签收</button>" in page and "审核办结" not in page
    assert "已签收" in act(client, task_id, "accept").text
    response = client.post(
        f"/tasks/{task_id}/act/update",
        data={"text": "开展普法宣传进村入户", "outcome-metric-0": "开展普法宣传",
              "outcome-value-0": "12", "outcome-unit-0": "次",
              "files": (BytesIO(PDF), "宣传照片说明.pdf")},
        content_type="multipart/form-data", follow_redirects=True,
    )  # fmt: skip
    assert "进展已报送" in response.text
    assert "开展普法宣传 12次" in response.text and "宣传照片说明.pdf" in response.text
    attachment = db.exec(select(Attachment)).one()
    download = client.get(f"/tasks/{task_id}/files/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()
    assert act(client, task_id, "submit").status_code == 200
    assert status(db, task_id) == TaskStatus.SUBMITTED
    client.post("/logout")

    login(client, "coord1")
    assert "请填写退回理由" in act(client, task_id, "return", reason="").text
    assert status(db, task_id) == TaskStatus.SUBMITTED
    act(client, task_id, "return", reason="请补充活动照片")
    assert status(db, task_id) == TaskStatus.IN_PROGRESS
    client.post("/logout")

    login(client, "staff_a")
    assert "请补充活动照片" in client.get(f"/tasks/{task_id}").text
    act(client, task_id, "submit")
    client.post("/logout")
    login(client, "coord1")
    assert "任务办结" in act(client, task_id, "approve").text
    assert status(db, task_id) == TaskStatus.CLOSED

    other = app.test_client()
    login(other, "staff_b")
    assert other.get(f"/tasks/{task_id}").status_code == 404
    assert other.get(f"/tasks/{task_id}/files/{attachment.id}").status_code == 404
    assert other.post(f"/tasks/{task_id}/act/comment", data={"text": "x"}).status_code == 404


def test_a_bad_attachment_keeps_the_whole_update_out(client, world: World, db: Session) -> None:
    task_id = world.task_a.id
    login(client, "staff_a")
    act(client, task_id, "accept")
    response = client.post(
        f"/tasks/{task_id}/act/update",
        data={"text": "进展", "files": (BytesIO(b"MZ\x90\x00" * 50), "报告.exe")},
        content_type="multipart/form-data", follow_redirects=True,
    )  # fmt: skip
    assert ".pdf" in response.text and "进展已报送" not in response.text
    reread(db)
    assert db.exec(select(ProgressUpdate)).all() == [] and db.exec(select(Attachment)).all() == []


def test_leaders_see_only_comment_and_urge(client, world: World, db: Session) -> None:
    task_id = world.task_a.id
    login(client, "leader1")
    page = client.get(f"/tasks/{task_id}").text
    assert "发表评论" in page and ">督促</button>" in page
    assert ">签收</button>" not in page and "撤销理由" not in page
    assert "无权" in act(client, task_id, "cancel", reason="x").text
    assert status(db, task_id) == TaskStatus.ASSIGNED
    assert "已督促" in act(client, task_id, "urge", text="请本周内签收").text


def test_auditors_cannot_act(client, world: World) -> None:
    login(client, "auditor1")
    assert (
        client.post(f"/tasks/{world.task_a.id}/act/comment", data={"text": "x"}).status_code == 403
    )


def test_a_second_save_on_a_stale_page_is_refused(client, app, world: World, db) -> None:
    task_id = world.task_a.id
    login(client, "coord1")
    seen = db.get(Task, task_id).version
    other = app.test_client()
    login(other, "coord1")
    act(other, task_id, "cancel", reason="与其他任务合并", version=seen)
    response = act(client, task_id, "reassign", reason="调整", office_id=world.office_b.id,
                   version=seen)  # fmt: skip
    assert "已被他人修改" in response.text
    assert status(db, task_id) == TaskStatus.CANCELLED


def test_extension_dates_are_checked(client, world: World, db: Session) -> None:
    task_id = world.task_a.id
    login(client, "staff_a")
    assert "无效" in act(client, task_id, "request_extension", new_deadline="2027-02-30",
                         reason="人手不足").text  # fmt: skip
    assert "请填写延期理由" in act(client, task_id, "request_extension",
                                 new_deadline="2027-03-31", reason="").text  # fmt: skip
    act(client, task_id, "request_extension", new_deadline="2027-03-31", reason="人手不足")
    reread(db)
    assert db.exec(select(ExtensionRequest)).one().status == "pending"
    client.post("/logout")
    login(client, "coord1")
    assert "延期申请待审批" in client.get(f"/tasks/{task_id}").text
    assert "已同意延期" in act(client, task_id, "decide_extension", decision="approve").text
    reread(db)
    assert db.get(Task, task_id).deadline.isoformat() == "2027-03-31"


def test_unknown_actions_are_not_found(client, world: World) -> None:
    login(client, "coord1")
    assert client.post(f"/tasks/{world.task_a.id}/act/explode").status_code == 404


def test_office_page_shows_members_open_tasks_and_on_time_rate(client, world: World, db) -> None:
    from datetime import UTC, datetime

    task = db.get(Task, world.task_a.id)
    task.status, task.closed_at = TaskStatus.CLOSED.value, datetime(2026, 12, 1, 2, tzinfo=UTC)
    db.commit()
    login(client, "coord1")
    html = client.get(f"/offices/{world.office_a.id}").text
    assert "甲科室" in html and "staff_a" in html
    assert "按时办结率 <strong>100%</strong>" in html and "<progress" in html
    client.post("/logout")
    login(client, "staff_b")
    assert client.get(f"/offices/{world.office_a.id}").status_code == 404
    assert client.get(f"/offices/{world.office_b.id}").status_code == 200


def test_recurring_duty_shows_the_next_report_date(client, world: World, db) -> None:
    task = db.get(Task, world.task_a.id)
    task.recurrence = "quarterly"
    db.commit()
    login(client, "staff_a")
    assert "每季度报送进展；下次报送：" in client.get(f"/tasks/{task.id}").text


def test_any_number_of_outcomes(client, world: World, db: Session) -> None:
    from app.models import Outcome

    task_id = world.task_a.id
    login(client, "staff_a")
    act(client, task_id, "accept")
    data = {"text": "多项成果"}
    for n in range(7):  # more rows than the page shows at first: the page's button adds them
        data |= {f"outcome-metric-{n}": f"指标{n}", f"outcome-value-{n}": str(n + 1),
                 f"outcome-unit-{n}": "次"}  # fmt: skip
    data["outcome-value-3"] = "1,200"
    assert "进展已报送" in act(client, task_id, "update", **data).text
    reread(db)
    values = sorted(o.value for o in db.exec(select(Outcome)))
    assert values == [1, 2, 3, 5, 6, 7, 1200]
    assert "“指标0”的数值须为数字" in act(client, task_id, "update", text="x",
                                         **{"outcome-metric-0": "指标0",
                                            "outcome-value-0": "十二"}).text  # fmt: skip


def test_a_returned_task_says_so_at_the_top(client, world: World, db: Session) -> None:
    task_id = world.task_a.id
    login(client, "staff_a")
    act(client, task_id, "accept")
    act(client, task_id, "update", text="进展")
    act(client, task_id, "submit")
    client.post("/logout")
    login(client, "coord1")
    act(client, task_id, "return", reason="缺少照片")
    client.post("/logout")
    login(client, "staff_a")
    page = client.get(f"/tasks/{task_id}").text
    assert "该任务已被退回" in page and "退回理由：缺少照片" in page
    act(client, task_id, "submit")
    assert "该任务已被退回" not in client.get(f"/tasks/{task_id}").text


def test_the_timeline_starts_with_the_assignment(client, world: World) -> None:
    login(client, "staff_a")
    page = client.get(f"/tasks/{world.task_a.id}").text
    assert "交办" in page and "任务创建，待签收" in page and "尚无记录" not in page


def test_reassign_has_its_own_page(client, world: World, db: Session) -> None:
    login(client, "coord1")
    page = client.get(f"/tasks/{world.task_a.id}").text
    assert f"/tasks/{world.task_a.id}/reassign" in page and "reassign-office" not in page
    form = client.get(f"/tasks/{world.task_a.id}/reassign").text
    assert 'id="reassign-office"' in form and "乙科室" in form
    response = act(client, world.task_a.id, "reassign", office_id=world.office_b.id,
                   reason="职责调整")  # fmt: skip
    assert "已重新交办给乙科室" in response.text
    client.post("/logout")
    login(client, "staff_a")
    assert client.get(f"/tasks/{world.task_a.id}/reassign").status_code == 403


def test_the_task_page_reads_what_the_workflow_reads(client, world: World, db: Session) -> None:
    """The page reads its rows in a few narrow statements (services/task_queries.task_page): its
    timeline holds every step in order, and its facts, return reason and pending extension are
    what the workflow's own readers find."""
    from app.models import Commitment, CommitmentProblem, Problem, User
    from app.services import task_queries
    from app.services import task_workflow as workflow

    task_id = world.task_a.id
    commitment = db.get(Commitment, db.get(Task, task_id).commitment_id)
    for position, lead in enumerate(["宣传不够深入", "制度不够健全"]):
        problem = Problem(report_id=commitment.report_id, position=position, lead=lead, text=lead)
        db.add(problem)
        db.flush()
        db.add(CommitmentProblem(commitment_id=commitment.id, problem_id=problem.id))
    db.commit()
    login(client, "staff_a")
    act(client, task_id, "accept")
    client.post(
        f"/tasks/{task_id}/act/update",
        data={"text": "开展普法宣传", "outcome-metric-0": "开展普法宣传", "outcome-value-0": "12",
              "outcome-unit-0": "次", "outcome-metric-1": "发放资料", "outcome-value-1": "300",
              "outcome-unit-1": "份", "files": (BytesIO(PDF), "照片说明.pdf")},
        content_type="multipart/form-data", follow_redirects=True,
    )  # fmt: skip
    act(client, task_id, "comment", text="已联系司法所")
    act(client, task_id, "submit", text="已完成")
    client.post("/logout")
    login(client, "coord1")
    act(client, task_id, "return", reason="请补充照片")
    client.post("/logout")
    login(client, "leader1")
    act(client, task_id, "urge", text="抓紧")
    client.post("/logout")
    login(client, "staff_a")
    act(client, task_id, "update", text="补充照片")
    act(client, task_id, "request_extension", new_deadline="2027-03-31", reason="人手不足")

    reread(db)
    task = db.get(Task, task_id)
    coordinator = db.exec(select(User).where(User.login == "coord1")).one()
    page = task_queries.task_page(db, task_id, coordinator)

    def plain(entries) -> list:
        return [(e.kind, e.label, e.author, e.text,
                 [(o.metric, o.value, o.unit) for o in e.outcomes],
                 [(f.original_name, f.size) for f in e.attachments])
                for e in entries]  # fmt: skip

    # Newest first; a reason given with a state change is shown on that change.
    assert plain(page.timeline) == [
        ("change", "申请延期", "staff_a", "", [], []),
        ("progress", "进展", "staff_a", "补充照片", [], []),
        ("comment", "督促", "leader1", "抓紧", [], []),
        ("change", "退回", "coord1", "待审核 → 办理中。退回理由：请补充照片", [], []),
        ("change", "申请办结", "staff_a", "办理中 → 待审核。申请办结说明：已完成", [], []),
        ("comment", "批示/评论", "staff_a", "已联系司法所", [], []),
        ("progress", "进展", "staff_a", "开展普法宣传",
         [("开展普法宣传", 12.0, "次"), ("发放资料", 300.0, "份")], [("照片说明.pdf", len(PDF))]),
        ("change", "签收", "staff_a", "待签收 → 办理中", [], []),
        ("change", "交办", "督办人员", "任务创建，待签收", [], []),
    ]  # fmt: skip
    assert [e.at for e in page.timeline] == sorted((e.at for e in page.timeline), reverse=True)
    assert page.returned == workflow.return_reason(db, task) == "请补充照片"
    assert page.facts == workflow.facts_of(db, task)
    pending = workflow.pending_extension(db, task_id)
    assert (page.pending.new_deadline, page.pending.reason) == (pending.new_deadline, "人手不足")
    assert [o.name for o in page.cooperating] == [o.name for o in task.cooperating_offices]
    assert (page.task.lead_office_name, page.task.version) == ("甲科室", task.version)
    assert page.source.report_title == "关于2021年度法治政府建设情况的报告"
    assert page.problems == [p.lead for p in db.get(Commitment, commitment.id).problems]
    assert "针对问题</dt><dd>宣传不够深入；制度不够健全" in client.get(f"/tasks/{task_id}").text
    staff_b = db.exec(select(User).where(User.login == "staff_b")).one()
    assert task_queries.task_page(db, task_id, staff_b) is None  # not theirs: 404
    assert task_queries.task_page(db, 10**6, coordinator) is None
