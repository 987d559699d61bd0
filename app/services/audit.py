"""The audit trail: every change writes an AuditEvent; the auditor filters and exports it.

The trail is append-only: nothing here (or anywhere in app/) updates or deletes an AuditEvent,
and the database refuses it too (triggers on audit_event, see the "audit trail append-only"
migration and docs/security.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, false, func
from sqlmodel import Session, SQLModel, col, select

from app.clock import utcnow
from app.core.glossary import OBJECT_LABELS, audit_action_label
from app.models import AuditEvent, User


def snapshot(obj: SQLModel, fields: list[str]) -> dict[str, Any]:
    """FIELDS of OBJ as JSON-ready values, for the before/after of an audit event."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, frozenset | set):
            value = sorted(str(v) for v in value)
        values[name] = value
    return values


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    object_type: str | None = None,
    object_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
    actor_login: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one audit event to SESSION."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_login=actor.login if actor else actor_login,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        ip=ip,
        at=at or utcnow(),
    )
    session.add(event)
    return event


# -- reading the trail: the auditor's filter, shared by the page and the exports ---------------


@dataclass(frozen=True)
class AuditFilters:
    """What the auditor filters on; None (or empty) means "any"."""

    family: str | None = None  # an action family (login, task, …): actions starting with it
    actor: str | None = None  # a login, compared lower-cased
    date_from: date | None = None  # local dates (TIMEZONE), both ends included
    date_to: date | None = None

    def described(self) -> dict[str, str]:
        """The filter as recorded with an export (only what was set)."""
        values = {"action": self.family, "actor": self.actor,
                  "date_from": self.date_from and self.date_from.isoformat(),
                  "date_to": self.date_to and self.date_to.isoformat()}  # fmt: skip
        return {key: value.replace("\x00", "")[:100] for key, value in values.items() if value}


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))


def _conditions(filters: AuditFilters, timezone: str) -> list[Any]:
    conditions: list[Any] = []
    typed = (filters.family or "") + (filters.actor or "")
    if "\x00" in typed:  # matches no stored text, and PostgreSQL refuses it in a query
        return [false()]
    if filters.family:
        # autoescape: the family comes from the query string, where % and _ are not wildcards.
        matches = col(AuditEvent.action).startswith(filters.family, autoescape=True)
        if filters.family == "login":
            matches = matches | (col(AuditEvent.action) == "logout")
        conditions.append(matches)
    if filters.actor and filters.actor.strip():
        conditions.append(col(AuditEvent.actor_login) == filters.actor.strip().lower())
    if filters.date_from:
        conditions.append(col(AuditEvent.at) >= _local_midnight(filters.date_from, timezone))
    if filters.date_to:
        end = _local_midnight(filters.date_to + timedelta(days=1), timezone)
        conditions.append(col(AuditEvent.at) < end)
    return conditions


def events_query(filters: AuditFilters, timezone: str) -> Select:
    """The events FILTERS selects, newest first (the auditor's page)."""
    return (
        select(AuditEvent)
        .where(*_conditions(filters, timezone))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    )


def count_events(session: Session, filters: AuditFilters, timezone: str) -> int:
    """How many events FILTERS selects."""
    query = select(func.count()).select_from(AuditEvent).where(*_conditions(filters, timezone))
    return session.exec(query).one()


# -- exporting the trail -----------------------------------------------------------------------
#
# An export is read in chunks of EXPORT_CHUNK rows (yield_per: a server-side cursor on
# PostgreSQL), so a trail of any length is written with the memory of one chunk: the CSV is
# streamed to the client as it is read, the workbook is written by openpyxl's write-only mode
# to a temporary file.

EXPORT_CHUNK = 1000
EXPORT_HEADERS = ("时间", "操作人", "操作", "对象", "对象编号", "来源地址", "修改前", "修改后")
EXPORT_WIDTHS = (20, 14, 22, 12, 10, 16, 60, 60)
EXPORT_FORMATS = ("xlsx", "csv")
# Excel reads a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_CELL_MAX = 32_767  # Excel's limit on the characters of one cell
_XLSX_CUT = "…（内容过长，已截断，完整内容见CSV导出）"


@dataclass(frozen=True)
class ExportRow:
    """One event as exported: local time, and every other column as display text."""

    at: datetime  # naive, in the export's time zone
    actor: str
    action: str
    object_type: str
    object_id: int | None
    ip: str
    before: str  # compact JSON, empty when there is none
    after: str


def _json(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def export_rows(session: Session, filters: AuditFilters, timezone: str) -> Iterator[ExportRow]:
    """The events FILTERS selects, oldest first, read EXPORT_CHUNK rows at a time."""
    zone = ZoneInfo(timezone)
    query = (
        select(AuditEvent.at, AuditEvent.actor_login, AuditEvent.action, AuditEvent.object_type,
               AuditEvent.object_id, AuditEvent.ip, AuditEvent.before, AuditEvent.after)
        .where(*_conditions(filters, timezone))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
        .execution_options(yield_per=EXPORT_CHUNK)
    )  # fmt: skip
    for at, actor, action, object_type, object_id, ip, before, after in session.exec(query):
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        yield ExportRow(
            at=at.astimezone(zone).replace(tzinfo=None), actor=actor or "",
            action=audit_action_label(action),
            object_type=OBJECT_LABELS.get(object_type or "", object_type or ""),
            object_id=object_id, ip=ip or "", before=_json(before), after=_json(after),
        )  # fmt: skip


def csv_safe(text: str) -> str:
    """TEXT as a CSV cell Excel will not run: a leading = + - @ (or tab, CR) gets a '."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_cells(row: ExportRow) -> list[str]:
    object_id = "" if row.object_id is None else str(row.object_id)
    cells = [row.at.strftime("%Y-%m-%d %H:%M:%S"), row.actor, row.action, row.object_type,
             object_id, row.ip, row.before, row.after]  # fmt: skip
    return [csv_safe(cell) for cell in cells]


def csv_chunks(rows: Iterable[ExportRow]) -> Iterator[bytes]:
    """ROWS as UTF-8 CSV with a byte-order mark (so that Excel reads it as UTF-8) and CRLF line
    ends, in pieces of EXPORT_CHUNK rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(EXPORT_HEADERS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_csv_cells(row))
        if count % EXPORT_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _xlsx_text(book_sheet: Any, text: str) -> Any:
    """A text cell that stays text: openpyxl would store "=…" as a formula."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if len(text) > _XLSX_CELL_MAX:
        text = text[: _XLSX_CELL_MAX - len(_XLSX_CUT)] + _XLSX_CUT
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(book_sheet, value=text)
    cell.data_type = "s"
    return cell


def write_xlsx(rows: Iterable[ExportRow], out: BinaryIO, *, title: str) -> None:
    """ROWS as a one-sheet workbook written to OUT, row by row (openpyxl's write-only mode)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for index, width in enumerate(EXPORT_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for text in EXPORT_HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([
            row.at, _xlsx_text(sheet, row.actor), _xlsx_text(sheet, row.action),
            _xlsx_text(sheet, row.object_type), row.object_id, _xlsx_text(sheet, row.ip),
            _xlsx_text(sheet, row.before), _xlsx_text(sheet, row.after),
        ])  # fmt: skip
    book.save(out)


def export_filename(today: date, fmt: str) -> str:
    """审计日志-2026-06-30.csv"""
    return f"审计日志-{today.isoformat()}.{fmt}"


def record_export(
    session: Session, *, actor: User, fmt: str, filters: AuditFilters, rows: int,
    ip: str | None = None, at: datetime | None = None,
) -> AuditEvent:  # fmt: skip
    """Audit an export of the trail itself: its format, filter and number of rows."""
    return record(
        session, actor=actor, action="audit.export", object_type="audit_event",
        after={"format": fmt, "rows": rows, "filters": filters.described()}, ip=ip, at=at,
    )  # fmt: skip
