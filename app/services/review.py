"""进度通报: load what the review needs at an as-of date, compute the figures (app/core/review.py)
and present them as a workbook, a 督查通报 (.docx) or a mail in the outbox.

Loading takes a fixed number of queries whatever the number of tasks or offices: the tasks
(only the columns the review reads), the offices, the commitments, the deadline changes, the
status changes of the audit trail up to the date, and the outcomes reported up to it. Dates are
the local dates (TIMEZONE) of the stored UTC instants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import String, type_coerce
from sqlmodel import Session, select

from app.core import review_document as wording
from app.core.lifecycle import LIGHT_LABELS
from app.core.review import (
    CANCELLED,
    CLOSED,
    OPEN,
    DeadlineMove,
    NamedItem,
    ReviewFigures,
    ReviewOutcome,
    ReviewTask,
    StatusEvent,
    compute_review,
)
from app.core.review_document import Masthead, review_spec
from app.core.timefmt import format_date_cn
from app.core.workdays import WorkCalendar
from app.models import (
    AuditEvent,
    Commitment,
    DeadlineChange,
    Office,
    Outbox,
    Outcome,
    ProgressUpdate,
    Report,
    Task,
    Unit,
    User,
    UserRole,
)
from app.notify.digest import Notice
from app.services import audit

# The audit actions that change what a task is at a date (rule 2 of app/core/review.py).
STATUS_ACTIONS = {"task.approve": CLOSED, "task.cancel": CANCELLED, "task.reopen": OPEN}
# Outbox values (as app/services/reminders.py writes them; not imported: reminders imports us).
EMAIL, SUMMARY, PENDING = "email", "summary", "pending"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WRAP_WIDTH = 16  # columns at least this wide (characters) wrap their text


def _local_date(moment: datetime | str, tz: tzinfo) -> date:
    """The local date of a stored instant, given as a datetime or as SQLite's text for one."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:  # SQLite keeps UTC without the offset (app/models.py)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).date()


def _raw(column):
    """COLUMN without SQLAlchemy's datetime parsing, the bulk of reading 20,000 tasks: SQLite
    hands back its text (parsed by _local_date, in C), PostgreSQL's driver a datetime."""
    return type_coerce(column, String)


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """The first instant after DAY in TZ, in UTC: "on or before DAY" is "before this"."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)


# -- loading --------------------------------------------------------------------------------


def load_figures(
    session: Session, *, as_of: date, calendar: WorkCalendar, tz: tzinfo
) -> ReviewFigures:
    """The review's figures at AS_OF (six queries)."""
    end = end_of_day(as_of, tz)
    existing = Task.created_at < end
    offices = [NamedItem(i, name) for i, name in session.exec(select(Office.id, Office.name))]
    return compute_review(
        as_of=as_of, calendar=calendar, tasks=_tasks(session, existing, tz), offices=offices,
        commitments=_commitments(session), moves=_moves(session, existing, tz),
        events=_status_events(session, end, tz), outcomes=_outcomes(session, end, tz),
    )  # fmt: skip


def _tasks(session: Session, existing, tz: tzinfo) -> list[ReviewTask]:
    rows = session.exec(
        select(Task.id, Task.title, Task.lead_office_id, Task.commitment_id,
               _raw(Task.created_at), Task.status, Task.deadline, _raw(Task.closed_at),
               _raw(Task.updated_at))
        .where(existing)
    )  # fmt: skip
    return [
        ReviewTask(task_id, title, office_id, commitment_id, _local_date(created, tz), status,
                   deadline, _local_date(closed, tz) if closed else None, _local_date(updated, tz))
        for task_id, title, office_id, commitment_id, created, status, deadline, closed, updated
        in rows
    ]  # fmt: skip


def _moves(session: Session, existing, tz: tzinfo) -> list[DeadlineMove]:
    rows = session.exec(
        select(DeadlineChange.task_id, DeadlineChange.kind, DeadlineChange.old_deadline,
               DeadlineChange.new_deadline, _raw(DeadlineChange.changed_at))
        .join(Task, Task.id == DeadlineChange.task_id).where(existing)
        .order_by(DeadlineChange.changed_at, DeadlineChange.id)
    )  # fmt: skip
    return [DeadlineMove(task_id, kind, old, new, _local_date(at, tz))
            for task_id, kind, old, new, at in rows]  # fmt: skip


def _commitments(session: Session) -> list[NamedItem]:
    """Every commitment in report and reading order (2021年度 一是加强宣传): a few hundred rows,
    cheaper read whole than filtered by the tasks; the core keeps those with tasks."""
    rows = session.exec(
        select(Commitment.id, Commitment.marker, Commitment.lead, Report.year)
        .join(Report, Report.id == Commitment.report_id)
        .order_by(Report.year, Report.id, Commitment.position, Commitment.id)
    )  # fmt: skip
    return [NamedItem(i, f"{year}年度 {marker}{lead}") for i, marker, lead, year in rows]


def _status_events(session: Session, end: datetime, tz: tzinfo) -> list[StatusEvent]:
    rows = session.exec(
        select(AuditEvent.object_id, AuditEvent.action, _raw(AuditEvent.at))
        .where(AuditEvent.action.in_(list(STATUS_ACTIONS)), AuditEvent.object_type == "task",
               AuditEvent.at < end)
        .order_by(AuditEvent.at, AuditEvent.id)
    )  # fmt: skip
    return [StatusEvent(task_id, _local_date(at, tz), STATUS_ACTIONS[action])
            for task_id, action, at in rows if task_id is not None]  # fmt: skip


def _outcomes(session: Session, end: datetime, tz: tzinfo) -> list[ReviewOutcome]:
    rows = session.exec(
        select(ProgressUpdate.task_id, _raw(ProgressUpdate.created_at), Outcome.metric,
               Outcome.value, Outcome.unit)
        .join(ProgressUpdate, ProgressUpdate.id == Outcome.update_id)
        .where(ProgressUpdate.created_at < end)
        .order_by(ProgressUpdate.created_at, ProgressUpdate.id, Outcome.id)
    )  # fmt: skip
    return [ReviewOutcome(task_id, _local_date(at, tz), metric, value, unit)
            for task_id, at, metric, value, unit in rows]  # fmt: skip


def masthead(session: Session, *, as_of: date, issued_on: date | None = None) -> Masthead:
    """The 通报's head: the issuer named after the unit when there is one unit."""
    units = session.exec(select(Unit.name, Unit.short_name).limit(2)).all()
    issuer = wording.DEFAULT_ISSUER
    if len(units) == 1:
        name, short = units[0]
        issuer = (short or name.removesuffix("人民政府")) + wording.DEFAULT_ISSUER
    return Masthead(issuer=issuer, issued_on=issued_on or as_of)


# -- exports --------------------------------------------------------------------------------


def filename(as_of: date, extension: str) -> str:
    """进度通报-2022-10-10.docx / 进度通报数据-2022-10-10.xlsx."""
    stem = "进度通报" if extension == "docx" else "进度通报数据"
    return f"{stem}-{as_of.isoformat()}.{extension}"


def export_docx(figures: ReviewFigures, head: Masthead) -> bytes:
    """The 督查通报 as .docx (app/docx_render.py does the layout)."""
    from app.docx_render import render_docx  # the only python-docx user; loaded when needed

    return render_docx(review_spec(figures, head))


@dataclass(frozen=True)
class _Sheet:
    name: str
    title: str
    columns: list[tuple[str, int]]  # (header, width in characters)
    rows: list[list[object]]
    percent_columns: tuple[int, ...] = ()  # 0-based columns holding a rate


def export_xlsx(figures: ReviewFigures) -> bytes:
    """The figures and the lists, one sheet each, in the 台账's style (app/xlsx_render.py)."""
    return _workbook(_sheets(figures))


def _sheets(f: ReviewFigures) -> list[_Sheet]:
    day = format_date_cn(f.as_of)
    overall = [
        ["截至日期", day], ["任务总数", f.total], ["已办结", f.closed],
        ["办结率", f.completion_rate], ["在办", f.open], ["已逾期", f.overdue],
        ["临近时限（5个工作日内）", f.due_soon], ["按期办结", f.on_time],
        ["按期办结率", f.on_time_rate], ["经批准延期的任务", f.extended],
        ["已撤销（不计入统计）", f.cancelled],
    ]  # fmt: skip
    offices = [
        [o.rank, o.name, o.total, o.closed, o.open, o.overdue, o.due_soon, o.on_time,
         o.completion_rate, o.on_time_rate, LIGHT_LABELS[o.light]]
        for o in f.offices
    ]  # fmt: skip
    overdue = [
        [n, t.title, t.office_name, format_date_cn(t.deadline),
         format_date_cn(t.original_deadline), t.days_overdue]
        for n, t in enumerate(f.overdue_tasks, start=1)
    ]  # fmt: skip
    return [
        _Sheet("总体情况", f"进度通报：总体情况（截至{day}）", [("指标", 28), ("数值", 16)],
               overall, ()),
        _Sheet("各单位", f"各单位任务落实情况（截至{day}）",
               [("排名", 6), ("单位", 24), ("任务数", 8), ("已办结", 8), ("在办", 8),
                ("逾期", 8), ("临近时限", 10), ("按期办结", 10), ("办结率", 10),
                ("按期办结率", 12), ("亮灯", 18)], offices, (8, 9)),
        _Sheet("下一步打算", f"“下一步打算”落实进度（截至{day}）",
               [("下一步打算", 50), ("任务数", 8), ("已办结", 8), ("逾期", 8), ("完成进度", 10)],
               [[c.label, c.tasks, c.closed, c.overdue, c.progress] for c in f.commitments],
               (4,)),
        _Sheet("逾期任务", f"逾期未完成任务（截至{day}，逾期按工作日计算）",
               [("序号", 6), ("任务", 40), ("牵头单位", 20), ("现行时限", 16), ("原定时限", 16),
                ("逾期工作日", 12)], overdue),
        _Sheet("每月办结", f"每月办结任务数（截至{day}）", [("月份", 14), ("办结任务数", 12)],
               [[m.label, m.closed] for m in f.closed_by_month]),
        _Sheet("量化成果", f"量化成果汇总（截至{day}，同一指标同一单位累计）",
               [("指标", 36), ("数值", 12), ("单位", 8), ("报送次数", 10)],
               [[t.metric, t.value, t.unit, t.count] for t in f.outcomes]),
    ]  # fmt: skip


def _workbook(sheets: Iterable[_Sheet]) -> bytes:
    """Several sheets styled like xlsx_render.render_table: a title row, a bold grey header,
    set widths, wrapped text, frozen panes; rates as numbers shown as percentages."""
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(sheet.name[:31])
        ws.append([sheet.title])
        ws["A1"].font = Font(bold=True, size=14)
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(sheet.columns))
        ws.append([header for header, _ in sheet.columns])
        for cell in ws[2]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="EEEEEE")
            cell.alignment = Alignment(horizontal="center", vertical="center")
        for row in sheet.rows:
            ws.append(row)
        for index, (_, width) in enumerate(sheet.columns, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        # Wrapped text where text is long (names, titles); styling every cell is most of the
        # time of writing 20,000 cells, and a number never wraps.
        wrap = Alignment(wrap_text=True, vertical="top")
        wide = [i for i, (_, width) in enumerate(sheet.columns) if width >= WRAP_WIDTH]
        for row in ws.iter_rows(min_row=3):
            for index in wide:
                row[index].alignment = wrap
            for index in sheet.percent_columns:
                row[index].number_format = "0.0%"
        if sheet.name == "总体情况":
            for row_number in (6, 11):  # 办结率, 按期办结率
                ws.cell(row_number, 2).number_format = "0.0%"
        ws.freeze_panes = "A3"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


# -- mail -----------------------------------------------------------------------------------


def review_notice(
    figures: ReviewFigures, *, key: str, subject: str, base_url: str,
    greeting: str = "各位领导：",
) -> Notice:  # fmt: skip
    """The review as a worded Notice for the outbox (kind "summary")."""
    link = f"{base_url.rstrip('/')}/review/?as_of={figures.as_of.isoformat()}"
    body = wording.review_mail(figures, subject=subject, greeting=greeting, link=link)
    return Notice(SUMMARY, key, subject, body.text, body.html, body.markdown)


def subject_now(as_of: date) -> str:
    return f"【进度通报】截至{format_date_cn(as_of)}法治政府建设任务落实情况"


def recipients(session: Session, *, coordinators: bool) -> list[str]:
    """The e-mail addresses of the active leaders (and coordinators), each once."""
    roles = ["leader", "coordinator"] if coordinators else ["leader"]
    rows = session.exec(
        select(User.email).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role.in_(roles), User.is_active, User.email.is_not(None))
    )  # fmt: skip
    return sorted({e for e in rows if e})


def send_now(
    session: Session, *, figures: ReviewFigures, actor: User | None, now: datetime,
    base_url: str, coordinators: bool = False, ip: str | None = None,
) -> int:  # fmt: skip
    """One outbox row per recipient, now; the number of rows. The key carries the moment, so
    sending the same date again on purpose is a new message, and a double click a second
    later is one too (the outbox keeps both: what was asked is what is sent)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    key = f"review.{figures.as_of.isoformat()}.{stamp}"
    notice = review_notice(figures, key=key, subject=subject_now(figures.as_of),
                           base_url=base_url)  # fmt: skip
    addresses = recipients(session, coordinators=coordinators)
    for address in addresses:
        session.add(Outbox(
            channel=EMAIL, kind=SUMMARY, recipient=address[:254], subject=notice.subject[:255],
            body=notice.to_json(), idempotency_key=f"{key}:{EMAIL}:{address}"[:255],
            status=PENDING, next_attempt_at=now, created_at=now,
        ))  # fmt: skip
    audit.record(session, actor=actor, action="review.send", object_type="review",
                 after={"as_of": figures.as_of.isoformat(), "recipients": len(addresses),
                        "coordinators": coordinators}, ip=ip, at=now)  # fmt: skip
    session.flush()
    return len(addresses)


def record_export(
    session: Session, *, as_of: date, kind: str, actor: User | None, ip: str | None = None,
    actor_login: str | None = None,
) -> None:  # fmt: skip
    """Audit one export (like task.export for the 台账); ACTOR_LOGIN names a command's user."""
    audit.record(session, actor=actor, action="review.export", object_type="review",
                 after={"as_of": as_of.isoformat(), "format": kind}, ip=ip,
                 actor_login=actor_login)  # fmt: skip
