"""Reminder mails: a ReminderMail in, a ready-to-send EmailMessage out.

No Flask and no database: the caller gives every value, including the clock, so the same
reminder always builds the same Message-ID (a retry after a crash is recognisably the same mail)
and tests need no app. The text is Chinese: headers are RFC 2047 encoded words (UTF-8, base64),
bodies UTF-8 in base64. The deadline travels as an all-day .ics event, PUBLISH rather than
REQUEST so that calendar clients import it without asking for an RSVP.

The message is assembled by compose() below, not by EmailMessage's set_content/add_attachment:
those parse every header value into a header object, parse the headers they write once more,
and refold everything when the message is flattened, which cost 3 to 5 ms a mail, more than
the SMTP exchange itself. compose() encodes and folds each header once, as it writes it, and
base64-encodes each body once; what comes out is still an EmailMessage under the default
policy's rules (message["Subject"] reads the decoded text, get_body() and get_content() work),
and it flattens to the same structure: multipart/mixed of a multipart/alternative (text, HTML)
and the attachment.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy, default
from email.utils import format_datetime
from functools import cache, lru_cache
from io import BytesIO

from icalendar import Alarm, Calendar, Event
from markupsafe import escape

from app.core.timefmt import format_date_cn, to_local

__all__ = [
    "Attachment",
    "ReminderMail",
    "build_message",
    "calendar_for",
    "compose",
    "date_line",
    "flatten",
    "message_id_for",
    "subject_for",
]

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


_HTML_ROW = (
    '<tr><th align="left" style="padding:2px 12px 2px 0;white-space:nowrap">{}</th>'
    "<td>{}</td></tr>\n"
)
# The URL is also the link text: some mail clients strip or rewrite href attributes.
_HTML = (
    "<!DOCTYPE html>\n"
    '<html lang="zh-CN"><head><meta charset="utf-8"><title>{subject}</title></head>\n'
    '<body style="font-family:sans-serif;font-size:14px;line-height:1.6">\n'
    "<p>您好：</p>\n<p>{lead}</p>\n<table>\n{rows}</table>\n"
    '<p>查看任务：<a href="{link}">{link}</a></p>\n'
    '<p style="color:#666;font-size:12px">'
    "办理时限已作为日历文件附在本邮件中，可导入日历。<br>\n"
    "本邮件由{sender_name}自动发送，请勿直接回复。</p>\n"
    "</body></html>\n"
)


def _html_body(mail: ReminderMail, sender_name: str) -> str:
    # Plain str.format, every value through markupsafe.escape on the way in: the same text
    # Markup.format made, at a fifth of the cost.
    rows = "".join(_HTML_ROW.format(escape(label), escape(value)) for label, value in _facts(mail))
    return _HTML.format(
        subject=escape(subject_for(mail)), lead=escape(_lead(mail)), rows=rows,
        link=escape(mail.link), sender_name=escape(sender_name),
    )  # fmt: skip


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
    now: datetime, timezone: str = "Asia/Shanghai", dated: bool = True,
) -> EmailMessage:  # fmt: skip
    """The reminder as multipart/mixed: text + HTML alternatives, then the deadline .ics.

    NOW is the sending instant (aware, or naive meaning UTC); the Date header shows it in
    TIMEZONE because a machine running in UTC would otherwise stamp +0000. Not DATED: no Date
    header (the outbox renders the mail when it plans it, and stamps the Date when it sends:
    date_line()); NOW is then the planning instant, the .ics's DTSTAMP.
    """
    if not mail.to and not mail.cc:
        raise ValueError(f"reminder for task {mail.task_id} has no recipients")
    text, html, ics = _bodies(replace(mail, to=(), cc=()), sender_name, domain, now)
    return compose(
        subject=subject_for(mail), sender=sender, sender_name=sender_name, to=mail.to,
        cc=mail.cc, date=to_local(now, timezone) if dated else None,
        message_id=message_id_for(mail, domain),
        text=text, html=html,
        attachment=Attachment(
            ics, f"deadline-task{mail.task_id}.ics",
            'text/calendar; method="PUBLISH"; charset="utf-8"',
        ),
    )  # fmt: skip


@lru_cache(maxsize=64)
def _bodies(
    mail: ReminderMail, sender_name: str, domain: str, now: datetime
) -> tuple[_Base64, ...]:
    """The three bodies of MAIL, base64-encoded: text, HTML, .ics. None of them names a
    recipient (MAIL comes without them), so the mails of one reminder to several recipients,
    which a sweep delivers one after the other, share them."""
    return (
        _base64_text(_text_body(mail, sender_name)),
        _base64_text(_html_body(mail, sender_name)),
        # Bytes as they are: the iCalendar CRLF line endings survive.
        _Base64(base64.encodebytes(calendar_for(mail, domain=domain, now=now,
                                                sender_name=sender_name)).decode("ascii")),
    )  # fmt: skip


# -- composing the MIME tree --------------------------------------------------------------------

_LINE = 78  # RFC 5322's line length (998 is the hard limit)
_WORD = 75  # RFC 2047's limit on one encoded word
_ENCODED = "=?utf-8?b?{}?="
_PLAIN_HEADER = re.compile(r"[ -~]*")  # printable ASCII: may stand in a header as it is
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# A plain addr-spec (dot-atom@dot-atom) reads the same in a header as it is written; anything
# else (quoted local parts, domain literals, non-ASCII) goes through email.headerregistry.
_SIMPLE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


class _Policy(EmailPolicy):
    """The default policy, except that the most headers of a name allowed comes from a table:
    the default looks it up in the header registry, which makes a new class every time."""

    def header_max_count(self, name: str) -> int | None:
        return _max_count(name.lower())


@cache
def _max_count(name: str) -> int | None:
    return default.header_factory[name].max_count


_POLICY = _Policy()


class _Header(str):
    """A header value written once: str() is the decoded value (what message[name] returns,
    as the default policy's header objects do), fold() the encoded, folded line(s) the
    generator writes. The policy stores and writes such an object as it stands because it has
    a name and a fold method, like the header objects of email.headerregistry."""

    name: str
    content_disposition: str | None  # MIMEPart.is_attachment() asks

    def __new__(cls, name: str, value: str, folded: str | None = None) -> _Header:
        header = super().__new__(cls, value)
        header.name = name
        header._folded = value if folded is None else folded  # lines joined by "\n "
        header.content_disposition = None
        return header

    def fold(self, *, policy: EmailPolicy) -> str:
        return f"{self.name}: {self._folded.replace(chr(10), policy.linesep)}{policy.linesep}"


def _utf8_length(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def encoded_header(name: str, text: str) -> _Header:
    """An unstructured header (Subject): as it is if it is short printable ASCII, else RFC 2047
    base64 encoded words of UTF-8, cut between characters (never inside one) so that no line
    passes 78 characters and no word 75. Decoders join adjacent encoded words without the
    folding whitespace, so the decoded value is TEXT exactly. Line breaks in TEXT become
    spaces: a header cannot hold them."""
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    first = _LINE - len(name) - 2  # after "Name: "
    if len(text) <= first and _PLAIN_HEADER.fullmatch(text) and "=?" not in text:
        return _Header(name, text)
    words: list[str] = []
    room = min(first, _WORD)
    start = size = 0
    for index, char in enumerate(text):
        width = _utf8_length(char)
        # 12 characters of =?utf-8?b??= around 4 for every 3 bytes (rounded up)
        if index > start and 12 + (size + width + 2) // 3 * 4 > room:
            words.append(text[start:index])
            start, size, room = index, 0, min(_LINE - 1, _WORD)  # later lines start with " "
        size += width
    words.append(text[start:])
    folded = "\n ".join(
        _ENCODED.format(base64.b64encode(word.encode("utf-8")).decode("ascii")) for word in words
    )
    return _Header(name, text, folded)


@lru_cache(maxsize=16)
def _mailbox_header(name: str, display_name: str, addr_spec: str) -> _Header:
    """From: worded by email.headerregistry once per sender (display name encoded, quoted as
    needed), then reused."""
    header = default.header_factory(name, Address(display_name=display_name, addr_spec=addr_spec))
    folded = header.fold(policy=default)
    return _Header(name, str(header), folded[len(name) + 2 :].rstrip("\n"))


def _address_list(name: str, addresses: tuple[str, ...]) -> _Header | None:
    """To/Cc of plain addresses, folded between addresses; None when one of them is not plain
    (the caller then hands them to email.headerregistry)."""
    if not all(_SIMPLE_ADDRESS.fullmatch(a) for a in addresses):
        return None
    lines: list[list[str]] = [[]]
    width = len(name) + 2  # "Name: "
    for number, address in enumerate(addresses, 1):
        piece = address if number == len(addresses) else f"{address},"
        if lines[-1] and width + 1 + len(piece) > _LINE:
            lines.append([])
            width = 1  # a folded line starts with a space
        elif lines[-1]:
            width += 1
        lines[-1].append(piece)
        width += len(piece)
    return _Header(name, ", ".join(addresses), "\n ".join(" ".join(line) for line in lines))


class _Base64(str):
    """A text body already encoded by _base64_text."""


def _base64_text(text: str) -> _Base64:
    """TEXT as the body of a text part: UTF-8, lines ending in LF, base64 in 76-character
    lines (as EmailMessage.set_content(cte="base64") writes it)."""
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    return _Base64(base64.encodebytes(data).decode("ascii"))


def _leaf(content_type: str, payload: str, *headers: _Header) -> EmailMessage:
    part = EmailMessage(_POLICY)
    part["Content-Type"] = _Header("Content-Type", content_type)
    part["Content-Transfer-Encoding"] = _Header("Content-Transfer-Encoding", "base64")
    for header in headers:
        part[header.name] = header
    part.set_payload(payload)
    return part


def _multipart(subtype: str, boundary: str, parts: list[EmailMessage],
               message: EmailMessage | None = None) -> EmailMessage:  # fmt: skip
    message = message if message is not None else EmailMessage(_POLICY)
    message["Content-Type"] = _Header("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
    message.set_payload(parts)
    return message


@dataclass(frozen=True)
class Attachment:
    """A file for compose(): its bytes already base64-encoded in lines (base64.encodebytes),
    an ASCII file name, and its full Content-Type value."""

    payload: str
    filename: str
    content_type: str


def compose(
    *, subject: str, sender: str, sender_name: str, to: tuple[str, ...], cc: tuple[str, ...],
    date: datetime | None, message_id: str, text: str, html: str,
    attachment: Attachment | None = None,
) -> EmailMessage:  # fmt: skip
    """A mail of Chinese text and HTML (multipart/alternative, base64), inside multipart/mixed
    with ATTACHMENT when there is one. DATE is shown in its own offset (None: no Date header).
    TEXT and HTML are str, or what _base64_text made of them (a sweep's mails to several
    recipients share it)."""
    message = EmailMessage(_POLICY)
    message["Subject"] = encoded_header("Subject", subject)
    message["From"] = _mailbox_header("From", sender_name, sender)
    for name, addresses in (("To", to), ("Cc", cc)):
        if addresses:
            header = _address_list(name, addresses)
            message[name] = header if header is not None else tuple(
                Address(addr_spec=a) for a in addresses
            )  # fmt: skip
    if date is not None:
        message["Date"] = _Header("Date", format_datetime(date))
    message["Message-ID"] = _Header("Message-ID", message_id)
    # RFC 3834, and Exchange's own header: no out-of-office replies to a robot.
    message["Auto-Submitted"] = _Header("Auto-Submitted", "auto-generated")
    message["X-Auto-Response-Suppress"] = _Header("X-Auto-Response-Suppress", "All")
    message["MIME-Version"] = _Header("MIME-Version", "1.0")
    # base64 even where 8bit would do: smtplib does not announce BODY=8BITMIME for an ASCII
    # envelope, and old gateways mangle raw 8-bit bodies. Every leaf is base64, so no line of
    # the body can begin with "--": boundaries made from the Message-ID never collide.
    tag = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:20]
    alternative = [
        _leaf('text/plain; charset="utf-8"', _body(text)),
        _leaf('text/html; charset="utf-8"', _body(html)),
    ]
    if attachment is None:
        return _multipart("alternative", f"=_alt_{tag}", alternative, message)
    disposition = _Header("Content-Disposition", f'attachment; filename="{attachment.filename}"')
    disposition.content_disposition = "attachment"
    mixed = [
        _multipart("alternative", f"=_alt_{tag}", alternative),
        _leaf(attachment.content_type, attachment.payload, disposition),
    ]
    return _multipart("mixed", f"=_mixed_{tag}", mixed, message)


def flatten(message: EmailMessage) -> bytes:
    """MESSAGE as smtplib.SMTP.send_message would put it on the wire (CRLF line ends, no
    From-mangling), for sending later with SMTP.sendmail as it is."""
    stream = BytesIO()
    BytesGenerator(stream, mangle_from_=False).flatten(message, linesep="\r\n")
    return stream.getvalue()


@lru_cache(maxsize=8)
def date_line(now: datetime, timezone: str = "Asia/Shanghai") -> bytes:
    """The Date header line (CRLF included) for a mail sent at NOW, shown in TIMEZONE: put in
    front of a mail flattened without one (build_message(dated=False))."""
    return f"Date: {format_datetime(to_local(now, timezone))}\r\n".encode("ascii")


def _body(text: str) -> _Base64:
    return text if isinstance(text, _Base64) else _base64_text(text)
