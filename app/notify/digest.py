"""Messages that are not about one task: an office's weekly digest and a notice to the admins
(the leaders' monthly summary is the progress review's Notice, app/services/review.py).
Pure: every value comes in, a worded Notice goes out.

A Notice carries the same content three ways: plain text and HTML for e-mail, markdown for the
企业微信/钉钉 robots. It is worded when planned and stored in the outbox as JSON, so a digest
says what was true at 09:00 on Monday even if it is delivered later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from email.message import EmailMessage

from markupsafe import Markup, escape

from app.core.lifecycle import Light
from app.core.timefmt import format_date_cn, to_local
from app.notify.email import compose

__all__ = [
    "DigestTask",
    "Notice",
    "build_notice_message",
    "calendar_warning",
    "order_for_digest",
    "weekly_digest",
]

LIGHT_WORDS = {Light.RED.value: "红灯", Light.YELLOW.value: "黄灯", Light.GREEN.value: "绿灯"}
_LIGHT_ORDER = {Light.RED.value: 0, Light.YELLOW.value: 1, Light.GREEN.value: 2}
ROBOT_LIST_LIMIT = 30  # a group chat is no place for a long list: the rest is a link


@dataclass(frozen=True)
class DigestTask:
    task_id: int
    title: str
    deadline: date
    status_label: str
    light: str  # a Light value
    note: str  # 距时限还有5个工作日 / 已逾期3个工作日


@dataclass(frozen=True)
class Notice:
    kind: str  # digest, summary, notice
    key: str  # stable, ASCII: names the message in Message-IDs
    subject: str
    text: str
    html: str
    markdown: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Notice:
        data = json.loads(text)
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def order_for_digest(tasks: list[DigestTask]) -> list[DigestTask]:
    """Red first, then yellow, then green; nearest deadline first within each."""
    return sorted(tasks, key=lambda t: (_LIGHT_ORDER.get(t.light, 3), t.deadline, t.task_id))


def _task_link(base_url: str, task_id: int) -> str:
    return f"{base_url.rstrip('/')}/tasks/{task_id}"


def _html_page(subject: str, body: Markup) -> str:
    return str(
        Markup(
            "<!DOCTYPE html>\n"
            '<html lang="zh-CN"><head><meta charset="utf-8"><title>{}</title></head>\n'
            '<body style="font-family:sans-serif;font-size:14px;line-height:1.6">\n{}'
            '<p style="color:#666;font-size:12px">'
            "本邮件由落实督办系统自动发送，请勿直接回复。</p>\n"
            "</body></html>\n"
        ).format(subject, body)
    )


def _html_table(headers: list[str], rows: list[list[str]]) -> Markup:
    head = Markup("").join(
        Markup('<th align="left" style="padding:2px 8px">{}</th>').format(h) for h in headers
    )
    body = Markup("").join(
        Markup("<tr>{}</tr>\n").format(
            Markup("").join(Markup('<td style="padding:2px 8px">{}</td>').format(c) for c in row)
        )
        for row in rows
    )
    return Markup('<table border="1" cellspacing="0">\n<tr>{}</tr>\n{}</table>\n').format(
        head, body
    )


def weekly_digest(
    office_name: str, week_of: date, tasks: list[DigestTask], base_url: str
) -> Notice:
    """An office's open tasks for the week of WEEK_OF (its first working day)."""
    ordered = order_for_digest(tasks)
    counts = {light: sum(1 for t in ordered if t.light == light) for light in LIGHT_WORDS}
    subject = f"【每周任务提示】{office_name}：在办任务{len(ordered)}项"
    if counts[Light.RED.value]:
        subject += f"，其中已逾期{counts[Light.RED.value]}项"
    summary = (
        f"截至{format_date_cn(week_of)}，{office_name}共有在办任务{len(ordered)}项："
        f"红灯（已逾期）{counts['red']}项，黄灯（临近时限）{counts['yellow']}项，"
        f"绿灯（正常推进）{counts['green']}项。红灯、黄灯任务排在前面，请优先办理。"
    )
    lines = ["您好：", "", summary, ""]
    for number, task in enumerate(ordered, 1):
        lines.append(
            f"{number}. [{LIGHT_WORDS.get(task.light, '')}] {task.title}"
            f"（时限：{format_date_cn(task.deadline)}，{task.status_label}，{task.note}）"
        )
        lines.append(f"   {_task_link(base_url, task.task_id)}")
    lines += ["", f"查看全部：{base_url.rstrip('/')}/tasks/mine", ""]
    rows = [
        [
            str(n), LIGHT_WORDS.get(t.light, ""),
            Markup('<a href="{}">{}</a>').format(_task_link(base_url, t.task_id), t.title),
            format_date_cn(t.deadline), t.status_label, t.note,
        ]
        for n, t in enumerate(ordered, 1)
    ]  # fmt: skip
    html = _html_page(
        subject,
        Markup("<p>您好：</p>\n<p>{}</p>\n{}").format(
            summary, _html_table(["序号", "亮灯", "任务", "时限", "状态", "时限提示"], rows)
        ),
    )
    markdown_lines = [f"### {subject}", summary, ""]
    for number, task in enumerate(ordered[:ROBOT_LIST_LIMIT], 1):
        markdown_lines.append(
            f"{number}. **{LIGHT_WORDS.get(task.light, '')}** "
            f"[{_md(task.title)}]({_task_link(base_url, task.task_id)})"
            f" 时限{format_date_cn(task.deadline)}，{task.note}"
        )
    if len(ordered) > ROBOT_LIST_LIMIT:
        markdown_lines.append(f"……另有{len(ordered) - ROBOT_LIST_LIMIT}项，请登录系统查看。")
    key = f"digest.{week_of.isoformat()}.{_ascii(office_name)}"
    return Notice("digest", key, subject, "\n".join(lines), html, "\n".join(markdown_lines))


def calendar_warning(year: int, base_url: str) -> Notice:
    """Tell the admins the working-day calendar does not know YEAR."""
    subject = f"【系统提示】工作日历缺少{year}年的节假日安排"
    text = (
        f"系统管理员：\n\n工作日历中没有{year}年的法定节假日和调休安排。在补充之前，提醒按周一至"
        f"周五发送，节假日当天也可能发送提醒，时限的工作日计算也可能不准。\n\n"
        f"请在国务院办公厅公布{year}年节假日安排后，到“工作日历”页面导入或录入：\n"
        f"{base_url.rstrip('/')}/admin/calendar/?year={year}\n"
    )
    html = _html_page(subject, Markup("<p>{}</p>").format(escape(text)))
    return Notice("notice", f"calendar.{year}", subject, text, html, f"### {subject}")


def _md(text: str) -> str:
    """Markdown-safe task titles: brackets would break the link syntax."""
    return text.replace("[", "［").replace("]", "］")


def _ascii(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def build_notice_message(
    notice: Notice, *, to: tuple[str, ...], sender: str, sender_name: str = "落实督办系统",
    domain: str, now: datetime, timezone: str = "Asia/Shanghai", dated: bool = True,
) -> EmailMessage:  # fmt: skip
    """NOTICE as multipart/alternative text + HTML, with a Message-ID stable across retries;
    without a Date header if not DATED (as build_message)."""
    if not to:
        raise ValueError(f"notice {notice.key} has no recipients")
    recipients = hashlib.sha256("\n".join(sorted(a.lower() for a in to)).encode()).hexdigest()
    # The headers and bodies of a reminder, without its calendar (app.notify.email.compose).
    return compose(
        subject=notice.subject, sender=sender, sender_name=sender_name, to=tuple(to), cc=(),
        date=to_local(now, timezone) if dated else None,
        message_id=f"<{notice.key}.{recipients[:16]}@{domain}>",
        text=notice.text, html=notice.html,
    )  # fmt: skip
