"""审计: the audit trail, read-only, for auditors: the filtered list and its exports."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from app.access import require
from app.clock import utcnow
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session, session_scope
from app.forms import AuditFilterForm
from app.pagination import paginate
from app.services import audit
from app.views import client_ip, page_number

bp = Blueprint("audit", __name__, url_prefix="/audit")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A workbook of up to this size stays in memory; a larger one is spooled to a temporary file.
XLSX_SPOOL_BYTES = 8 * 1024 * 1024


def _timezone() -> str:
    return current_app.config["TIMEZONE"]


def _read_filters() -> tuple[AuditFilterForm, audit.AuditFilters | None]:
    """The filter form of the query string, and its filters (None when a value is invalid)."""
    form = AuditFilterForm(formdata=request.args)
    if not form.validate():
        return form, None
    return form, audit.AuditFilters(
        family=form.action.data or None, actor=form.actor.data or None,
        date_from=form.date_from.data, date_to=form.date_to.data,
    )  # fmt: skip


@bp.route("/")
@require(Permission.VIEW_AUDIT)
def index():
    form, filters = _read_filters()
    # An invalid value is shown on its field and the list is not filtered (nothing is hidden).
    query = audit.events_query(filters or audit.AuditFilters(), _timezone())
    page = paginate(get_session(), query, page_number(), current_app.config["PAGE_SIZE"])
    export_args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("audit/index.html", form=form, page=page, export_args=export_args,
                           filtered=filters is not None)  # fmt: skip


def _refuse_export(form: AuditFilterForm):
    """Back to the page, where the invalid filter is shown on its field; nothing is exported."""
    errors = [error for field in form for error in field.errors]
    flash(f"筛选条件有误，未导出：{errors[0]}" if errors else "筛选条件有误，未导出。", "error")
    args = {k: v for k, v in request.args.items() if k != "page"}
    return redirect(url_for("audit.index", **args))


def _start_export(fmt: str, filters: audit.AuditFilters) -> None:
    """Audit the export with its number of rows, committed at once in a transaction of its own:
    the record stays whatever becomes of the download."""
    rows = audit.count_events(get_session(), filters, _timezone())
    with session_scope() as session:
        audit.record_export(session, actor=current_user, fmt=fmt, filters=filters, rows=rows,
                            ip=client_ip(), at=utcnow())  # fmt: skip


def content_disposition(filename: str, fallback: str) -> str:
    """An attachment named FILENAME (RFC 5987 filename*, UTF-8), or FALLBACK (ASCII) for
    clients that do not read filename*."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _disposition(fmt: str) -> str:
    today = local_today(utcnow(), _timezone())
    return content_disposition(audit.export_filename(today, fmt), f"audit-log-{today}.{fmt}")


@bp.route("/export.csv")
@require(Permission.VIEW_AUDIT)
def export_csv():
    form, filters = _read_filters()
    if filters is None:
        return _refuse_export(form)
    _start_export("csv", filters)
    return Response(
        stream_with_context(_csv_body(filters)), mimetype="text/csv",
        headers={"Content-Disposition": _disposition("csv"),
                 "Cache-Control": "no-store"},
    )  # fmt: skip


def _csv_body(filters: audit.AuditFilters) -> Iterator[bytes]:
    """The CSV, read as it is sent. It runs after the view has returned and its session was
    closed: get_session() here opens the session of the streaming, closed when it ends."""
    yield from audit.csv_chunks(audit.export_rows(get_session(), filters, _timezone()))


@bp.route("/export.xlsx")
@require(Permission.VIEW_AUDIT)
def export_xlsx():
    form, filters = _read_filters()
    if filters is None:
        return _refuse_export(form)
    _start_export("xlsx", filters)
    rows = audit.export_rows(get_session(), filters, _timezone())
    out = tempfile.SpooledTemporaryFile(max_size=XLSX_SPOOL_BYTES)  # noqa: SIM115 - see _sent
    try:
        audit.write_xlsx(rows, out, title="审计日志")
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return Response(
        _sent(out), mimetype=XLSX_MIMETYPE,
        headers={"Content-Disposition": _disposition("xlsx"), "Content-Length": str(size),
                 "Cache-Control": "no-store"},
    )  # fmt: skip


def _sent(out: IO[bytes]) -> Iterator[bytes]:
    """OUT's bytes in pieces; the file is closed once sent (or when the client goes away)."""
    try:
        while chunk := out.read(64 * 1024):
            yield chunk
    finally:
        out.close()
