"""Digest, summary and notice wording (pure) and their e-mail form."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.notify.digest import (
    ROBOT_LIST_LIMIT,
    DigestTask,
    Notice,
    build_notice_message,
    calendar_warning,
    order_for_digest,
    weekly_digest,
)
from tests.test_notify_email import parse

BASE = "http://luoshi.test"


def item(task_id: int, light: str, deadline: date, title: str | None = None) -> DigestTask:
    return DigestTask(task_id, title or f"任务{task_id}", deadline, "办理中", light, "说明")


def test_red_then_yellow_then_green_nearest_deadline_first() -> None:
    tasks = [item(1, "green", date(2026, 12, 1)), item(2, "yellow", date(2026, 12, 20)),
             item(3, "red", date(2026, 11, 2)), item(4, "yellow", date(2026, 12, 3)),
             item(5, "red", date(2026, 10, 1))]  # fmt: skip
    assert [t.task_id for t in order_for_digest(tasks)] == [5, 3, 4, 2, 1]


def test_weekly_digest_text_html_and_markdown() -> None:
    tasks = [
        item(1, "green", date(2026, 12, 31), "开展<宪法>宣传"),
        item(2, "red", date(2026, 11, 2)),
    ]
    notice = weekly_digest("司法所", date(2026, 11, 30), tasks, BASE)
    assert notice.kind == "digest" and notice.key.isascii()
    assert notice.subject == "【每周任务提示】司法所：在办任务2项，其中已逾期1项"
    assert notice.text.index("任务2") < notice.text.index("开展<宪法>宣传")
    assert "红灯（已逾期）1项" in notice.text and f"{BASE}/tasks/2" in notice.text
    assert "开展&lt;宪法&gt;宣传" in notice.html and "<宪法>" not in notice.html
    assert f"({BASE}/tasks/1)" in notice.markdown


def test_a_long_digest_is_cut_for_the_robots_only() -> None:
    tasks = [item(i, "green", date(2026, 12, 31)) for i in range(1, ROBOT_LIST_LIMIT + 6)]
    notice = weekly_digest("司法所", date(2026, 11, 30), tasks, BASE)
    assert f"{BASE}/tasks/{ROBOT_LIST_LIMIT + 5}" in notice.text
    assert f"{BASE}/tasks/{ROBOT_LIST_LIMIT + 5})" not in notice.markdown
    assert "另有5项" in notice.markdown


def test_titles_with_brackets_keep_the_markdown_link_intact() -> None:
    tasks = [item(1, "red", date(2026, 1, 1), "[急]x")]
    notice = weekly_digest("司法所", date(2026, 11, 30), tasks, BASE)
    assert f"[［急］x]({BASE}/tasks/1)" in notice.markdown


def test_notice_json_round_trip() -> None:
    notice = calendar_warning(2031, BASE)
    assert Notice.from_json(notice.to_json()) == notice
    assert "2031" in notice.subject and "/admin/calendar/?year=2031" in notice.text


def test_notice_mail_decodes_and_keeps_its_message_id() -> None:
    notice = weekly_digest("司法所", date(2026, 11, 30), [item(1, "red", date(2026, 1, 1))], BASE)
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    build = lambda to: build_notice_message(  # noqa: E731
        notice, to=to, sender="l@example.cn", domain="example.cn", now=now
    )
    message = parse(build(("a@example.cn",)).as_bytes())
    assert message["Subject"] == notice.subject
    assert message["Date"].datetime.utcoffset().total_seconds() == 8 * 3600
    assert message.get_body(("plain",)).get_content() == notice.text
    assert message.get_body(("html",)).get_content() == notice.html
    assert build(("a@example.cn",))["Message-ID"] == message["Message-ID"]
    assert build(("b@example.cn",))["Message-ID"] != message["Message-ID"]
