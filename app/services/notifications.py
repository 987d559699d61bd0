"""通知记录: read the outbox (filter, page, count by status), show one message as its recipient
reads it, and put messages back to be sent again.

Filters come from a query string typed or edited by hand, so parsing never raises: a bad value
becomes a Chinese message and the condition is dropped, the rest of the filter still applies.
Resending changes a row only from a state no sender is working on (a conditional UPDATE), keeps
the idempotency key (it is the same message, sent again on purpose) and writes an AuditEvent
per row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, update
from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.glossary import NOTIFY_CHANNEL_LABELS, NOTIFY_KIND_LABELS, OUTBOX_STATUS_LABELS
from app.models import Outbox, User
from app.notify.digest import Notice, build_notice_message
from app.notify.email import build_message
from app.pagination import Page, paginate
from app.services import audit
from app.services.reminders import EMAIL, FAILED, PENDING, REMINDER, SENDING, SENT, SKIPPED
from app.services.reminders import _mail_from_json as reminder_from_json

__all__ = [
    "BULK_LIMIT",
    "RESENDABLE",
    "MessageView",
    "NotificationFilters",
    "NotificationPage",
    "ResendResult",
    "describe",
    "failed_ids",
    "list_page",
    "parse_filters",
    "resend",
    "resend_one",
]

# Nobody is working on these rows: resending them cannot race a delivery.
RESENDABLE = (FAILED, SKIPPED, SENT)
# "重发全部失败" resends at most this many rows a click: one request, one transaction, one audit
# event a row; the page says when more are left.
BULK_LIMIT = 1000
_TEXT_MAX = 254  # the width of outbox.recipient; nothing longer can match
_DATE_MIN, _DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)
_INT_MAX = 2**31 - 1  # task.id is a 32-bit INTEGER on PostgreSQL
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL refuses NUL in text parameters

_REFUSALS = {
    PENDING: "该通知正在等待发送，无需重发。",
    SENDING: "该通知正在发送中，请稍后再试。",
}


# -- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationFilters:
    """What the list shows; None means "any". Dates are local calendar days, both inclusive."""

    status: str | None = None
    channel: str | None = None
    kind: str | None = None
    recipient: str | None = None  # contains, case-insensitive
    subject: str | None = None  # contains, case-insensitive
    date_from: date | None = None
    date_to: date | None = None
    task_id: int | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments (only the ones set)."""
        args = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                args[item.name] = value.isoformat() if isinstance(value, date) else str(value)
        return args


def _text(args: Mapping[str, str], name: str) -> str:
    return _CONTROL.sub("", str(args.get(name) or "")).strip()


def _choice(
    args: Mapping[str, str], name: str, labels: Mapping[str, str], what: str,
    errors: dict[str, str],
) -> str | None:  # fmt: skip
    value = _text(args, name)
    if not value:
        return None
    if value not in labels:
        errors[name] = f"未知的{what}“{value[:20]}”，已忽略该条件。"
        return None
    return value


def _day(args: Mapping[str, str], name: str, what: str, errors: dict[str, str]) -> date | None:
    value = _text(args, name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = f"{what}“{value[:20]}”不是有效日期（格式如2026-02-28），已忽略。"
        return None
    if not _DATE_MIN <= day <= _DATE_MAX:
        errors[name] = f"{what}应在2000年至2100年之间，已忽略。"
        return None
    return day


def parse_filters(args: Mapping[str, str]) -> tuple[NotificationFilters, dict[str, str]]:
    """The filters in ARGS (a query string or a form) and, by field name, the Chinese reason
    each bad value was ignored. Never raises: whatever was typed, the page can be shown."""
    errors: dict[str, str] = {}
    status = _choice(args, "status", OUTBOX_STATUS_LABELS, "状态", errors)
    channel = _choice(args, "channel", NOTIFY_CHANNEL_LABELS, "渠道", errors)
    kind = _choice(args, "kind", NOTIFY_KIND_LABELS, "类型", errors)
    recipient = _text(args, "recipient")[:_TEXT_MAX] or None
    subject = _text(args, "subject")[:_TEXT_MAX] or None
    date_from = _day(args, "date_from", "起始日期", errors)
    date_to = _day(args, "date_to", "截止日期", errors)
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = "起始日期晚于截止日期，已忽略日期范围。"
        date_from = date_to = None
    task_id = None
    raw_task = _text(args, "task_id")
    if raw_task:
        if raw_task.isascii() and raw_task.isdigit() and 0 < int(raw_task) <= _INT_MAX:
            task_id = int(raw_task)
        else:
            errors["task_id"] = f"任务编号“{raw_task[:20]}”应为正整数，已忽略。"
    filters = NotificationFilters(
        status=status, channel=channel, kind=kind, recipient=recipient, subject=subject,
        date_from=date_from, date_to=date_to, task_id=task_id,
    )  # fmt: skip
    return filters, errors


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    # lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not; escape
    # so that a typed % or _ is matched literally.
    return func.lower(column).contains(text.lower(), autoescape=True)


def _conditions(
    filters: NotificationFilters, timezone: str, *, with_status: bool = True
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if with_status and filters.status:
        where.append(Outbox.status == filters.status)
    if filters.channel:
        where.append(Outbox.channel == filters.channel)
    if filters.kind:
        where.append(Outbox.kind == filters.kind)
    if filters.recipient:
        where.append(_contains(Outbox.recipient, filters.recipient))
    if filters.subject:
        where.append(_contains(Outbox.subject, filters.subject))
    if filters.date_from:
        where.append(Outbox.created_at >= _local_midnight(filters.date_from, timezone))
    if filters.date_to:
        end = _local_midnight(filters.date_to + timedelta(days=1), timezone)
        where.append(Outbox.created_at < end)
    if filters.task_id:
        where.append(Outbox.task_id == filters.task_id)
    return where


@dataclass(frozen=True)
class NotificationPage:
    page: Page  # of Outbox rows, newest first
    # Rows per status under every filter but the status one, so that each count says what
    # choosing that status would show; every status is present, in the order of the labels.
    counts: dict[str, int]


def list_page(
    session: Session, filters: NotificationFilters, *, number: int, size: int, timezone: str
) -> NotificationPage:
    """Page NUMBER of the outbox rows matching FILTERS, and the counts per status."""
    query = (
        select(Outbox)
        .where(*_conditions(filters, timezone))
        .order_by(Outbox.created_at.desc(), Outbox.id.desc())
    )
    page = paginate(session, query, number, size)
    counts = dict.fromkeys(OUTBOX_STATUS_LABELS, 0)
    grouped = session.exec(
        select(Outbox.status, func.count())
        .where(*_conditions(filters, timezone, with_status=False))
        .group_by(Outbox.status)
    )
    for status, count in grouped:
        counts[status] = count  # an unknown status still shows, under its code
    return NotificationPage(page=page, counts=counts)


def failed_ids(
    session: Session, filters: NotificationFilters, *, timezone: str, limit: int = BULK_LIMIT
) -> list[int]:
    """The failed rows under FILTERS, oldest first, at most LIMIT of them."""
    query = (
        select(Outbox.id)
        .where(*_conditions(filters, timezone), Outbox.status == FAILED)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list(session.exec(query))


# -- one message ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    """One outbox row as its recipient gets it."""

    headers: list[tuple[str, str]]
    text: str | None = None  # the plain text the recipient reads
    markdown: str | None = None  # a robot message's Markdown source
    attachments: list[str] = field(default_factory=list)
    raw: str = ""  # the stored body (pretty-printed JSON when it is JSON)
    problem: str | None = None  # why the message could not be rebuilt, if it could not


def _pretty(body: str) -> tuple[Any, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, body
    return data, json.dumps(data, ensure_ascii=False, indent=2)


def _part(value: Any, *keys: str) -> str | None:
    """VALUE when it is text, else the first text under KEYS of it (the robots nest their
    payloads: 企业微信 {"text": {"content": …}}, 钉钉 {"markdown": {"title": …, "text": …}})."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in keys:
            if isinstance(value.get(key), str):
                return value[key]
    return None


def _email_view(message: EmailMessage, raw: str) -> MessageView:
    plain = message.get_body(preferencelist=("plain",))
    attachments = [part.get_filename() or "（未命名附件）" for part in message.iter_attachments()]
    return MessageView(
        headers=[(name, str(value)) for name, value in message.items()],
        text=plain.get_content() if plain is not None else None,
        attachments=attachments, raw=raw,
    )  # fmt: skip


def describe(row: Outbox, *, sender: str, domain: str, now: datetime, timezone: str) -> MessageView:
    """What ROW sends: an email reminder is rebuilt exactly as the sender builds it (dated when
    it was sent, or NOW if it has not been); other rows show the text their body carries."""
    data, raw = _pretty(row.body)
    problem = None
    if row.channel == EMAIL and row.kind == REMINDER:
        try:
            mail = reminder_from_json(row.body)
            message = build_message(
                mail, sender=sender, domain=domain, now=row.sent_at or now, timezone=timezone
            )
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A body from an older or newer version of the app: show what is there instead.
            problem = f"无法按催办邮件格式还原（{type(error).__name__}），以下为原始内容。"
        else:
            return _email_view(message, raw)
    elif row.channel == EMAIL:
        try:
            notice = Notice.from_json(row.body)
            message = build_notice_message(
                notice, to=(row.recipient,), sender=sender, domain=domain,
                now=row.sent_at or now, timezone=timezone,
            )  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # not a worded notice: show the text its body carries, below
        else:
            return _email_view(message, raw)
    headers = [("渠道", NOTIFY_CHANNEL_LABELS.get(row.channel, row.channel)),
               ("收件人", row.recipient), ("主题", row.subject)]  # fmt: skip
    text = markdown = None
    if isinstance(data, Mapping):
        text = _part(data.get("text"), "content", "text")
        markdown = _part(data.get("markdown"), "text", "content")
        # A body may carry both (one notice, worded for every channel): show the one this
        # channel delivers. Mail clients show the text; the robots render the Markdown.
        if row.channel == EMAIL and text is not None:
            markdown = None
        elif row.channel != EMAIL and markdown is not None:
            text = None
    if text is None and markdown is None and problem is None:
        problem = "消息内容不是可识别的格式，以下为原始内容。"
    return MessageView(headers=headers, text=text, markdown=markdown, raw=raw, problem=problem)


# -- resending --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResendResult:
    resent: list[int]
    refused: list[tuple[int, str]]  # (outbox id, why, in Chinese)


def _refusal(status: str | None, allowed: Iterable[str]) -> str:
    if status is None:
        return "通知不存在。"
    if status in _REFUSALS:
        return _REFUSALS[status]
    if status in RESENDABLE and status not in allowed:
        return "批量重发只处理发送失败的通知。"
    return f"状态为“{OUTBOX_STATUS_LABELS.get(status, status)}”的通知不能重发。"


def resend(
    session: Session, ids: Iterable[int], *, actor: User | None, ip: str | None, now: datetime,
    allowed: Iterable[str] = RESENDABLE,
) -> ResendResult:  # fmt: skip
    """Put the rows IDS back to be sent at NOW: pending, no attempts, no error; the rest are
    refused with a reason. ALLOWED narrows the states resent (the bulk actions take failed
    rows only). Flushes, never commits."""
    allowed = tuple(s for s in allowed if s in RESENDABLE)
    wanted = list(dict.fromkeys(ids))
    before: dict[int, Any] = {}
    for start in range(0, len(wanted), 500):  # stay far below the databases' parameter limits
        chunk = wanted[start : start + 500]
        for row in session.exec(
            select(Outbox.id, Outbox.status, Outbox.attempts, Outbox.last_error, Outbox.sent_at)
            .where(Outbox.id.in_(chunk))
        ):  # fmt: skip
            before[row.id] = row
    resent: list[int] = []
    for status in allowed:
        ids_now = [i for i in wanted if i in before and before[i].status == status]
        for start in range(0, len(ids_now), 500):
            # The status in the WHERE clause: a row another request resent (and a sweep
            # claimed) meanwhile is left alone and reported below.
            changed = session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids_now[start : start + 500]), Outbox.status == status)
                .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None,
                        sent_at=None)
                .returning(Outbox.id)
                .execution_options(synchronize_session=False)
            ).scalars().all()  # fmt: skip
            resent += changed
    done = set(resent)
    for outbox_id in sorted(done):
        old = before[outbox_id]
        audit.record(
            session, actor=actor, action="notification.resend", object_type="outbox",
            object_id=outbox_id, ip=ip, at=now,
            before={"status": old.status, "attempts": old.attempts,
                    "last_error": (old.last_error or "")[:500] or None,
                    "sent_at": old.sent_at.isoformat() if old.sent_at else None},
            after={"status": PENDING, "attempts": 0, "next_attempt_at": now.isoformat()},
        )  # fmt: skip
    session.flush()
    refused = []
    for outbox_id in wanted:
        if outbox_id in done:
            continue
        old = before.get(outbox_id)
        status = old.status if old is not None else None
        why = _refusal(status, allowed)
        if status in allowed:  # it was resendable when read, and is not any more
            why = "该通知的状态刚刚发生变化，请刷新页面后重试。"
        refused.append((outbox_id, why))
    return ResendResult(resent=sorted(done), refused=refused)


def resend_one(
    session: Session, outbox_id: int, *, actor: User | None, ip: str | None, now: datetime
) -> int:
    """Resend one row (failed, skipped or sent); its id, or DomainError with the reason."""
    result = resend(session, [outbox_id], actor=actor, ip=ip, now=now)
    if result.refused:
        raise DomainError(result.refused[0][1])
    return outbox_id
