"""通知记录: filter and page the outbox, read one message, resend (admins only, audited)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from itertools import count

import pytest
from sqlmodel import Session, select

from app.clock import utcnow
from app.core.glossary import audit_action_label
from app.db import get_engine
from app.models import AuditEvent, Outbox
from app.notify.email import ReminderMail
from app.notify.smtp import FileSender
from app.services import notifications as service
from app.services import reminders
from tests.conftest import login, reread, token_from
from tests.factories import PASSWORD, World

TZ = "Asia/Shanghai"
_keys = count(1)


def add_row(db: Session, **values) -> Outbox:
    """An outbox row as the sender leaves it; VALUES override the defaults."""
    n = next(_keys)
    data = {
        "channel": "email", "kind": "digest", "recipient": f"user{n}@example.cn",
        "subject": f"通知{n}", "body": json.dumps({"text": f"正文{n}"}, ensure_ascii=False),
        "idempotency_key": f"test:{n}", "status": "sent", "attempts": 1,
        "created_at": datetime(2026, 3, 2, 2, 0, tzinfo=UTC) + timedelta(minutes=n),
    }  # fmt: skip
    data.update(values)
    row = Outbox(**data)
    db.add(row)
    db.flush()
    return row


def reminder_body(world: World, recipient: str = "staff_a@example.cn") -> str:
    """A reminder body in the JSON shape reminders.plan writes (its own serialiser)."""
    mail = ReminderMail(
        task_id=world.task_a.id, task_title=world.task_a.title, office_name="甲科室",
        deadline=date(2026, 12, 31), rule="before-3", for_day=date(2026, 12, 28),
        link=f"http://luoshi.test/tasks/{world.task_a.id}", to=(recipient,), cc=(),
        status_label="已交办", days_note="距时限还有3个工作日",
    )  # fmt: skip
    return json.dumps(reminders._mail_json(mail), ensure_ascii=False)


def failed_reminder(db: Session, world: World) -> Outbox:
    row = add_row(
        db, kind="reminder", task_id=world.task_a.id, office_id=world.office_a.id,
        recipient="staff_a@example.cn", subject="【任务提醒】甲科室的任务（距时限还有3个工作日）",
        body=reminder_body(world), idempotency_key="reminder:task-a:before-3:staff_a",
        status="failed", attempts=3, last_error="message refused: 550 mailbox unavailable",
        next_attempt_at=datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip
    db.commit()
    return row


def ids_on(html: str) -> list[int]:
    """The outbox ids the list links to, in page order."""
    return [int(i) for i in re.findall(r'href="/admin/notifications/(\d+)"', html)]


# -- the list ---------------------------------------------------------------------------------


@pytest.fixture
def spread(db: Session, world: World) -> dict[str, Outbox]:
    """Rows differing in one property each, so that every filter has something to drop."""
    rows = {
        "sent": add_row(db, recipient="Leader@Example.cn", subject="【月度情况】三月"),
        "failed": add_row(db, status="failed", last_error="550 no such user",
                          subject="【每周任务提示】甲科室"),
        "pending": add_row(db, status="pending", attempts=0, channel="wecom",
                           recipient="office:1", kind="digest", subject="周报 100%_完成"),
        "reminder": add_row(db, kind="reminder", task_id=world.task_a.id, status="skipped",
                            subject="【今日到期】甲科室的任务"),
        # 2026-03-04 23:30 in Shanghai is 15:30 UTC: it belongs to the local 4th.
        "late": add_row(db, created_at=datetime(2026, 3, 4, 15, 30, tzinfo=UTC),
                        channel="dingtalk", subject="晚间通知"),
        # 2026-03-05 00:30 in Shanghai is still the 4th in UTC: it belongs to the local 5th.
        "early": add_row(db, created_at=datetime(2026, 3, 4, 16, 30, tzinfo=UTC),
                         kind="notice", subject="凌晨通知"),
    }  # fmt: skip
    db.commit()
    return rows


def page_ids(db: Session, **filters) -> set[int]:
    result = service.list_page(db, service.NotificationFilters(**filters), number=1, size=100,
                               timezone=TZ)  # fmt: skip
    return {row.id for row in result.page.items}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"sent", "failed", "pending", "reminder", "late", "early"}),
        ({"status": "failed"}, {"failed"}),
        ({"channel": "wecom"}, {"pending"}),
        ({"kind": "reminder"}, {"reminder"}),
        ({"recipient": "leader@example"}, {"sent"}),  # case-insensitive on both databases
        ({"subject": "甲科室"}, {"failed", "reminder"}),
        ({"subject": "100%_"}, {"pending"}),  # % and _ are matched literally
        ({"subject": "1_0"}, set()),  # would match "100" if _ were a wildcard
        ({"subject": "周报%完成"}, set()),
        ({"date_from": date(2026, 3, 4), "date_to": date(2026, 3, 4)}, {"late"}),
        ({"date_from": date(2026, 3, 5)}, {"early"}),
        ({"date_to": date(2026, 3, 2)}, {"sent", "failed", "pending", "reminder"}),
        ({"task_id": -1}, set()),
        ({"channel": "email", "subject": "甲科室", "status": "skipped"}, {"reminder"}),
        ({"channel": "email", "date_from": date(2026, 3, 3)}, {"early"}),
    ],
)
def test_each_filter_narrows(db, spread, filters, expected) -> None:
    assert page_ids(db, **filters) == {spread[name].id for name in expected}


def test_task_filter(db, spread, world: World) -> None:
    assert page_ids(db, task_id=world.task_a.id) == {spread["reminder"].id}


def test_list_shows_the_columns_in_chinese_newest_first(client, spread) -> None:
    login(client, "coord1")
    response = client.get("/admin/notifications")
    assert response.status_code == 200
    html = response.text
    assert "<h1>通知记录</h1>" in html
    for header in ("时间", "渠道", "类型", "收件人", "主题", "状态", "尝试次数", "最后错误"):
        assert f'<th scope="col">{header}</th>' in html
    assert ids_on(html) == sorted((r.id for r in spread.values()), reverse=True)
    assert "2026年3月4日 23:30" in html and "2026年3月5日 00:30" in html  # local time
    assert "企业微信" in html and "钉钉" in html and "催办提醒" in html
    assert ">发送失败</span>" in html and ">已跳过</span>" in html  # text, not colour alone
    assert "550 no such user" in html


def test_filters_through_the_page_and_counts_per_status(client, spread) -> None:
    login(client, "admin1")
    html = client.get("/admin/notifications?channel=email&status=failed").text
    assert ids_on(html) == [spread["failed"].id]
    # The counts follow every filter but the status one: four e-mail rows.
    counts = re.findall(r">(待发送|发送中|已发送|发送失败|已跳过)</span> (\d+)</a>", html)
    assert dict(counts) == {"待发送": "0", "发送中": "0", "已发送": "2", "发送失败": "1",
                            "已跳过": "1"}  # fmt: skip
    assert 'value="email" selected' in html and 'value="failed" selected' in html


def test_counts_match_the_rows(db, spread) -> None:
    result = service.list_page(db, service.NotificationFilters(channel="email"), number=1,
                               size=50, timezone=TZ)  # fmt: skip
    assert result.counts == {"pending": 0, "sending": 0, "sent": 2, "failed": 1, "skipped": 1}
    result = service.list_page(db, service.NotificationFilters(status="failed"), number=1,
                               size=50, timezone=TZ)  # fmt: skip
    assert [r.id for r in result.page.items] == [spread["failed"].id]
    assert result.counts == {"pending": 1, "sending": 0, "sent": 3, "failed": 1, "skipped": 1}


@pytest.mark.parametrize(
    ("query", "message", "expected"),
    [
        ("status=lost", "未知的状态“lost”", None),
        ("channel=fax&status=failed", "未知的渠道“fax”", {"failed"}),
        ("kind=%3Cb%3E", "未知的类型“&lt;b&gt;”", None),
        ("date_from=2026-02-30", "起始日期“2026-02-30”不是有效日期", None),
        ("date_to=2026-13-01&channel=wecom", "截止日期“2026-13-01”不是有效日期", {"pending"}),
        ("date_from=2026-03-05&date_to=2026-03-01", "起始日期晚于截止日期", None),
        ("date_from=0001-01-01", "起始日期应在2000年至2100年之间", None),
        ("date_to=9999-12-31", "截止日期应在2000年至2100年之间", None),
        ("task_id=abc", "任务编号“abc”应为正整数", None),
        ("task_id=-3", "任务编号“-3”应为正整数", None),
        ("task_id=99999999999999999999999", "应为正整数", None),
        ("task_id=%EF%BC%91", "应为正整数", None),  # a full-width digit
    ],
)
def test_bad_filters_are_explained_and_ignored(client, spread, query, message, expected) -> None:
    login(client, "admin1")
    response = client.get(f"/admin/notifications?{query}")
    assert response.status_code == 200
    assert message in response.text
    names = expected or set(spread)
    assert set(ids_on(response.text)) == {spread[n].id for n in names}


def test_control_characters_and_huge_pages_are_harmless(client, spread) -> None:
    login(client, "admin1")
    response = client.get("/admin/notifications?recipient=%00leader&subject=%00&page=99999999")
    assert response.status_code == 200
    assert ids_on(response.text) == [spread["sent"].id]


def test_pagination_at_120_rows(client, db: Session, world: World) -> None:
    rows = [add_row(db) for _ in range(120)]
    db.commit()
    login(client, "admin1")
    first = client.get("/admin/notifications").text
    assert "第 1 / 3 页，共 120 条" in first
    assert ids_on(first) == [r.id for r in reversed(rows[-50:])]
    assert 'href="/admin/notifications?page=2">下一页' in first
    last = client.get("/admin/notifications?page=3").text
    assert ids_on(last) == [r.id for r in reversed(rows[:20])]
    filtered = client.get("/admin/notifications?subject=%E9%80%9A%E7%9F%A5&page=2").text
    assert "第 2 / 3 页" in filtered and "subject=" in filtered  # the filter stays in the links


# -- one message ------------------------------------------------------------------------------


def test_detail_shows_the_reminder_as_its_recipient_reads_it(client, db, world: World) -> None:
    row = failed_reminder(db, world)
    login(client, "coord1")
    response = client.get(f"/admin/notifications/{row.id}")
    assert response.status_code == 200
    html = response.text
    assert "以下任务即将到期，请按时限抓紧推进落实。" in html
    assert "办理时限：2026年12月31日" in html and "时限提示：距时限还有3个工作日" in html
    assert f"查看任务：http://luoshi.test/tasks/{world.task_a.id}" in html
    assert f"deadline-task{world.task_a.id}.ics" in html  # the attachment's name
    assert "Message-ID" in html and f"&lt;task{world.task_a.id}.before-3.2026-12-28." in html
    assert "staff_a@example.cn" in html and "Auto-Submitted" in html
    assert "message refused: 550 mailbox unavailable" in html
    assert "<dt>尝试次数</dt><dd>3</dd>" in html
    # Coordinators may open the task; the link names it.
    assert f'href="/tasks/{world.task_a.id}">甲科室的任务</a>' in html
    assert "重新发送" not in html  # coordinators read, admins resend


def test_admins_see_no_task_link_but_may_resend(client, db, world: World) -> None:
    row = failed_reminder(db, world)
    login(client, "admin1")
    html = client.get(f"/admin/notifications/{row.id}").text
    assert f'href="/tasks/{world.task_a.id}"' not in html  # no task content for admins
    assert f"任务编号 {world.task_a.id}" in html
    assert f'action="/admin/notifications/{row.id}/resend"' in html and "重新发送" in html


def test_detail_of_a_robot_message_shows_its_markdown(client, db, world: World) -> None:
    body = {
        "kind": "digest",
        "key": "digest-1",
        "subject": "每周任务提示",
        "text": "纯文本正文",
        "html": "<p>x</p>",
        "markdown": "### 每周任务提示\n- **红灯** 1项",
    }
    row = add_row(db, channel="dingtalk", recipient="office:1",
                  body=json.dumps(body, ensure_ascii=False))  # fmt: skip
    nested = add_row(db, channel="wecom", body=json.dumps({"msgtype": "markdown",
                     "markdown": {"content": "## 企业微信正文"}}, ensure_ascii=False))  # fmt: skip
    db.commit()
    login(client, "admin1")
    html = client.get(f"/admin/notifications/{row.id}").text
    assert "### 每周任务提示\n- **红灯** 1项" in html and "纯文本正文" in html
    assert "钉钉" in html and "office:1" in html
    assert "## 企业微信正文" in client.get(f"/admin/notifications/{nested.id}").text
    assert "正文（Markdown）" in html and "正文（收件人看到的文字）" not in html


def test_detail_of_an_email_notice_shows_its_text(client, db, world: World) -> None:
    body = {"subject": "月度情况", "text": "各位领导：本月办结5项。", "markdown": "**本月**"}
    row = add_row(db, kind="summary", body=json.dumps(body, ensure_ascii=False))
    db.commit()
    login(client, "admin1")
    html = client.get(f"/admin/notifications/{row.id}").text
    assert "正文（收件人看到的文字）" in html and "各位领导：本月办结5项。" in html
    assert "正文（Markdown）" not in html and "月度情况汇总" in html


def test_an_unknown_body_is_shown_raw_and_escaped(client, db, world: World) -> None:
    plain = add_row(db, body="<script>alert(1)</script>")
    broken = add_row(db, kind="reminder", body=json.dumps({"task_id": 1}))
    db.commit()
    login(client, "admin1")
    html = client.get(f"/admin/notifications/{plain.id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "不是可识别的格式" in html
    html = client.get(f"/admin/notifications/{broken.id}").text
    assert "无法按催办邮件格式还原" in html and "&#34;task_id&#34;: 1" in html


def test_unknown_id_is_not_found(client, world: World) -> None:
    login(client, "admin1")
    assert client.get("/admin/notifications/4242").status_code == 404
    assert client.get("/admin/notifications/99999999999999999999999").status_code == 404
    assert client.post("/admin/notifications/4242/resend").status_code == 404


# -- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("login_name", ["leader1", "staff_a", "auditor1"])
def test_other_roles_are_forbidden(client, db, world: World, login_name: str) -> None:
    row = failed_reminder(db, world)
    login(client, login_name)
    assert client.get("/admin/notifications").status_code == 403
    assert client.get(f"/admin/notifications/{row.id}").status_code == 403
    assert client.post(f"/admin/notifications/{row.id}/resend").status_code == 403
    assert client.post("/admin/notifications/resend", data={"ids": [row.id]}).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, world: World) -> None:
    response = client.get("/admin/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_coordinators_may_not_resend(client, db, world: World) -> None:
    row = failed_reminder(db, world)
    login(client, "coord1")
    assert "重发所选" not in client.get("/admin/notifications").text
    assert client.post(f"/admin/notifications/{row.id}/resend").status_code == 403
    reread(db)
    assert db.get(Outbox, row.id).status == "failed"


# -- resending --------------------------------------------------------------------------------


def test_resend_of_a_failed_row_delivers_it_again(client, app, db, world, tmp_path) -> None:
    row = failed_reminder(db, world)
    login(client, "admin1")
    response = client.post(f"/admin/notifications/{row.id}/resend")
    assert response.headers["Location"] == f"/admin/notifications/{row.id}"
    assert "重新排入发送队列" in client.get(response.headers["Location"]).text
    reread(db)
    again = db.get(Outbox, row.id)
    assert (again.status, again.attempts, again.last_error) == ("pending", 0, None)
    assert again.idempotency_key == "reminder:task-a:before-3:staff_a"  # the same message
    assert again.next_attempt_at > datetime(2026, 3, 2, tzinfo=UTC)
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "notification.resend")).one()
    assert (event.object_type, event.object_id) == ("outbox", row.id)
    assert event.actor_login == "admin1"
    assert event.before["status"] == "failed" and event.before["attempts"] == 3
    assert event.after["status"] == "pending" and event.after["attempts"] == 0
    assert audit_action_label(event.action) == "重发通知"

    folder = tmp_path / "mail"
    result = reminders.deliver_pending(
        get_engine(app), sender=FileSender(folder), now=utcnow() + timedelta(seconds=1),
        from_address="luoshi@example.cn", domain="example.cn",
    )  # fmt: skip
    assert result.sent == 1
    [eml] = list(folder.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=default)
    assert message["To"] == "staff_a@example.cn" and "甲科室的任务" in message["Subject"]
    reread(db)
    assert db.get(Outbox, row.id).status == "sent"
    assert db.get(Outbox, row.id).attempts == 1


@pytest.mark.parametrize("status", ["pending", "sending"])
def test_resend_is_refused_while_a_row_is_on_its_way(client, db, world, status) -> None:
    row = add_row(db, status=status, attempts=1)
    db.commit()
    login(client, "admin1")
    html = client.get(f"/admin/notifications/{row.id}").text
    assert "不能重发" in html and f'{row.id}/resend"' not in html
    response = client.post(f"/admin/notifications/{row.id}/resend", follow_redirects=True)
    assert "无需重发" in response.text or "请稍后再试" in response.text
    reread(db)
    assert db.get(Outbox, row.id).status == status and db.get(Outbox, row.id).attempts == 1
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "notification.resend")).all() == []


@pytest.mark.parametrize("status", ["sent", "skipped"])
def test_sent_and_skipped_rows_may_be_resent_on_purpose(client, db, world, status) -> None:
    row = add_row(db, status=status, sent_at=datetime(2026, 3, 2, tzinfo=UTC))
    db.commit()
    login(client, "admin1")
    client.post(f"/admin/notifications/{row.id}/resend", data={"back": "//evil.example/"})
    reread(db)
    again = db.get(Outbox, row.id)
    assert (again.status, again.attempts, again.sent_at) == ("pending", 0, None)


def test_resend_back_link_stays_on_the_site(client, db, world) -> None:
    row = add_row(db, status="failed")
    db.commit()
    login(client, "admin1")
    back = "/admin/notifications?status=failed"
    response = client.post(f"/admin/notifications/{row.id}/resend", data={"back": back})
    assert response.headers["Location"] == back
    row2 = add_row(db, status="failed")
    db.commit()
    response = client.post(f"/admin/notifications/{row2.id}/resend",
                           data={"back": "//evil.example/"})  # fmt: skip
    assert response.headers["Location"] == f"/admin/notifications/{row2.id}"


def test_bulk_resend_of_the_selected_failed_rows(client, db, world: World) -> None:
    failed = [add_row(db, status="failed") for _ in range(3)]
    sent = add_row(db, status="sent")
    db.commit()
    login(client, "admin1")
    page = client.get("/admin/notifications").text
    assert "重发所选" in page and f'name="ids" value="{failed[0].id}"' in page
    assert f'name="ids" value="{sent.id}"' not in page  # only failed rows can be ticked
    response = client.post(
        "/admin/notifications/resend",
        data={"scope": "selected", "ids": [failed[0].id, failed[1].id, sent.id, 4242],
              "status": "failed"},
        follow_redirects=True,
    )  # fmt: skip
    assert "已将 2 条通知重新排入发送队列" in response.text
    assert f"通知 {sent.id} 未重发：批量重发只处理发送失败的通知" in response.text
    assert "通知 4242 未重发：通知不存在" in response.text
    reread(db)
    assert [db.get(Outbox, r.id).status for r in failed] == ["pending", "pending", "failed"]
    assert db.get(Outbox, sent.id).status == "sent"
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "notification.resend")).all()
    assert sorted(e.object_id for e in events) == [failed[0].id, failed[1].id]


def test_bulk_resend_of_every_failed_row_under_the_filter(client, db, world: World) -> None:
    email = [add_row(db, status="failed") for _ in range(2)]
    robot = add_row(db, status="failed", channel="wecom")
    add_row(db, status="sent")
    db.commit()
    login(client, "admin1")
    response = client.post("/admin/notifications/resend",
                           data={"scope": "all_failed", "channel": "email"})  # fmt: skip
    assert response.headers["Location"] == "/admin/notifications?channel=email"
    reread(db)
    assert [db.get(Outbox, r.id).status for r in email] == ["pending", "pending"]
    assert db.get(Outbox, robot.id).status == "failed"
    response = client.post("/admin/notifications/resend",
                           data={"scope": "all_failed", "channel": "email"},
                           follow_redirects=True)  # fmt: skip
    assert "当前筛选条件下没有发送失败的通知" in response.text


def test_bulk_without_a_selection_is_explained(client, world: World) -> None:
    login(client, "admin1")
    response = client.post("/admin/notifications/resend", data={"scope": "selected"},
                           follow_redirects=True)  # fmt: skip
    assert "请先勾选要重发的通知" in response.text


def test_service_refuses_what_is_not_resendable(db, world: World) -> None:
    pending = add_row(db, status="pending")
    failed = add_row(db, status="failed")
    db.commit()
    result = service.resend(db, [pending.id, failed.id, failed.id, 777], actor=None, ip=None,
                            now=utcnow())  # fmt: skip
    assert result.resent == [failed.id]
    assert result.refused == [(pending.id, "该通知正在等待发送，无需重发。"), (777, "通知不存在。")]


# -- CSRF -------------------------------------------------------------------------------------


def test_resend_needs_the_csrf_token(csrf_client, db: Session, world: World) -> None:
    row = failed_reminder(db, world)
    token = token_from(csrf_client.get("/login").text)
    csrf_client.post("/login", data={"login": "admin1", "password": PASSWORD, "csrf_token": token})
    assert csrf_client.post(f"/admin/notifications/{row.id}/resend").status_code == 400
    assert csrf_client.post("/admin/notifications/resend",
                            data={"scope": "all_failed"}).status_code == 400  # fmt: skip
    reread(db)
    assert db.get(Outbox, row.id).status == "failed"
    page = csrf_client.get(f"/admin/notifications/{row.id}").text
    response = csrf_client.post(f"/admin/notifications/{row.id}/resend",
                                data={"csrf_token": token_from(page)})  # fmt: skip
    assert response.status_code == 302
    reread(db)
    assert db.get(Outbox, row.id).status == "pending"
