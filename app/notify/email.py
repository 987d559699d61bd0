"""Reminder mails: a ReminderMail in, a ready-to-send EmailMessage out.

No Flask and no database: the caller gives every value, including the clock, so the same
reminder always builds the same Message-ID (a retry after a crash is recognisably the same mail)
and tests need no app. The text is Chinese; the stdlib's default policy encodes it (RFC 2047
headers, UTF-8 base64 bodies). The deadline travels as an all-day .ics event, PUBLISH rather
than REQUEST so that calendar clients import it without asking for an RSVP.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Alarm, Calendar, Event
from markupsafe import Markup

from app.core.timefmt import format_date_cn, to_local

__all__ = ["ReminderMail", "build_message", "calendar_for", "message_id_for", "subject_for"]

PRODID = "-//Luoshi//落实督办系统//ZH"
# The alarm fires at 09:00 the day before: an all-day event starts at local midnight, and a
# reminder at midnight would go unseen.
ALARM_BEFORE = timedelta(hours=-15)

_BEFORE = re.compile(r"before-([1-9][0-9]*)")


@dataclass(frozen=True)
class ReminderMail:
    """Everything one reminder mail says (the outbox stores it as JSON)."""

    task_id: int
    task_title: str
    office_name: str
    deadline: date
    rule: str  # before-N, due, overdue, submitted, periodic (app.core.reminder_policy)
    for_day: date
    link: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    status_label: str
    days_note: str  # e.g. 距时限还有5个工作日 / 已逾期3个工作日


def _before_days(rule: str) -> int | None:
    match = _BEFORE.fullmatch(rule)
    return int(match.group(1)) if match else None


def subject_for(mail: ReminderMail) -> str:
    """The Chinese subject line for MAIL's rule; ValueError for a rule this module can't word."""
    title = mail.task_title
    days = _before_days(mail.rule)
    if days is not None:
        # The true count: a reminder sent late after a holiday must not say "10 days left".
        return f"【任务提醒】{title}（{mail.days_note or f'{days}个工作日后到期'}）"
    subjects = {
        "due": f"【今日到期】{title}",
        "overdue": f"【督办】{title}（已逾期）",
        "submitted": f"【待审核】{title}",
        "periodic": f"【进展报送提醒】{title}",
    }
    try:
        return subjects[mail.rule]
    except KeyError:
        raise ValueError(f"unknown reminder rule: {mail.rule!r}") from None


def _lead(mail: ReminderMail) -> str:
    """The sentence that says why this mail was sent."""
    if _before_days(mail.rule) is not None:
        return "以下任务即将到期，请按时限抓紧推进落实。"
    return {
        "due": "以下任务今日到期，请尽快办结并报送办理情况。",
        "overdue": "以下任务已超过办理时限，请尽快办结并说明未按期完成的原因。",
        "submitted": "以下任务已报送办结材料，请及时审核。",
        "periodic": "以下任务需按期报送工作进展，请及时报送。",
    }[mail.rule]


def _facts(mail: ReminderMail) -> list[tuple[str, str]]:
    return [
        ("任务", mail.task_title),
        ("承办单位", mail.office_name),
        ("办理时限", format_date_cn(mail.deadline)),
        ("当前状态", mail.status_label),
        ("时限提示", mail.days_note),
    ]


def _text_body(mail: ReminderMail, sender_name: str) -> str:
    lines = ["您好：", "", _lead(mail), ""]
    lines += [f"{label}：{value}" for label, value in _facts(mail)]
    lines += [
        "",
        f"查看任务：{mail.link}",
        "",
        "办理时限已作为日历文件附在本邮件中，可导入日历。",
        f"本邮件由{sender_name}自动发送，请勿直接回复。",
        "",
    ]
    return "\n".join(lines)


def _html_body(mail: ReminderMail, sender_name: str) -> str:
    rows = Markup("").join(
        Markup('<tr><th align="left" style="padding:2px 12px 2px 0;white-space:nowrap">{}</th>'
               "<td>{}</td></tr>\n").format(label, value)
        for label, value in _facts(mail)
    )  # fmt: skip
    # The URL is also the link text: some mail clients strip or rewrite href attributes.
    html = Markup(
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8"><title>{subject}</title></head>\n'
        '<body style="font-family:sans-serif;font-size:14px;line-height:1.6">\n'
        "<p>您好：</p>\n<p>{lead}</p>\n<table>\n{rows}</table>\n"
        '<p>查看任务：<a href="{link}">{link}</a></p>\n'
        '<p style="color:#666;font-size:12px">'
        "办理时限已作为日历文件附在本邮件中，可导入日历。<br>\n"
        "本邮件由{sender_name}自动发送，请勿直接回复。</p>\n"
        "</body></html>\n"
    ).format(
        subject=subject_for(mail), lead=_lead(mail), rows=rows, link=mail.link,
        sender_name=sender_name,
    )  # fmt: skip
    return str(html)


def message_id_for(mail: ReminderMail, domain: str) -> str:
    """A Message-ID that is the same every time MAIL is built, so a retry reuses it.

    make_msgid() would add a random part; the recipients' hash stands in for it, so one
    reminder split into one mail per recipient still gives each mail its own ID.
    """
    recipients = "\n".join(sorted(a.lower() for a in mail.to)) + "\0"
    recipients += "\n".join(sorted(a.lower() for a in mail.cc))
    digest = hashlib.sha256(recipients.encode("utf-8")).hexdigest()[:16]
    return f"<task{mail.task_id}.{mail.rule}.{mail.for_day.isoformat()}.{digest}@{domain}>"


def calendar_for(mail: ReminderMail, *, domain: str, now: datetime, sender_name: str) -> bytes:
    """The deadline as an all-day VEVENT (iCalendar bytes, CRLF lines)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")

    event = Event()
    # One UID per task: a later mail with a moved deadline updates the event, not a second one.
    event.add("uid", f"task-{mail.task_id}@{domain}")
    event.add("dtstamp", to_local(now, "UTC"))
    event.add("dtstart", mail.deadline)
    event.add("dtend", mail.deadline + timedelta(days=1))
    event.add("summary", f"时限：{mail.task_title}")
    event.add("description", f"承办单位：{mail.office_name}\n查看任务：{mail.link}")
    event.add("url", mail.link)
    # A deadline is not a meeting: it must not show the day as busy.
    event.add("transp", "TRANSPARENT")

    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", ALARM_BEFORE)
    alarm.add("description", f"明日到期：{mail.task_title}（{sender_name}）")
    event.add_component(alarm)

    calendar.add_component(event)
    return calendar.to_ical()


def build_message(
    mail: ReminderMail, *, sender: str, sender_name: str = "落实督办系统", domain: str,
    now: datetime, timezone: str = "Asia/Shanghai",
) -> EmailMessage:  # fmt: skip
    """The reminder as multipart/mixed: text + HTML alternatives, then the deadline .ics.

    NOW is the sending instant (aware, or naive meaning UTC); the Date header shows it in
    TIMEZONE because a machine running in UTC would otherwise stamp +0000.
    """
    if not mail.to and not mail.cc:
        raise ValueError(f"reminder for task {mail.task_id} has no recipients")
    message = EmailMessage()
    message["Subject"] = subject_for(mail)
    message["From"] = Address(display_name=sender_name, addr_spec=sender)
    if mail.to:
        message["To"] = tuple(Address(addr_spec=a) for a in mail.to)
    if mail.cc:
        message["Cc"] = tuple(Address(addr_spec=a) for a in mail.cc)
    message["Date"] = format_datetime(to_local(now, timezone))
    message["Message-ID"] = message_id_for(mail, domain)
    # RFC 3834, and Exchange's own header: no out-of-office replies to a robot.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"

    # base64 even where 8bit would do: smtplib does not announce BODY=8BITMIME for an ASCII
    # envelope, and old gateways mangle raw 8-bit bodies.
    message.set_content(_text_body(mail, sender_name), cte="base64")
    message.add_alternative(_html_body(mail, sender_name), subtype="html", cte="base64")
    # Bytes, not str: the iCalendar CRLF line endings survive, and the params name the charset.
    message.add_attachment(
        calendar_for(mail, domain=domain, now=now, sender_name=sender_name),
        maintype="text", subtype="calendar", filename=f"deadline-task{mail.task_id}.ics",
        params={"method": "PUBLISH", "charset": "utf-8"},
    )  # fmt: skip
    return message
