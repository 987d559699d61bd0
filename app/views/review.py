"""进度通报: the review at any as-of date, its charts, its exports (.docx, .xlsx) and sending it
to the leaders now. The figures come from app/services/review.py; nothing is decided here."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup

from app.access import can, require
from app.clock import utcnow
from app.core import charts
from app.core import review_document as wording
from app.core.review import ReviewFigures, parse_as_of, percent
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session
from app.forms import CsrfOnlyForm
from app.services import review as review_service
from app.services.holidays import load_calendar
from app.views import client_ip

bp = Blueprint("review", __name__, url_prefix="/review")
PAGE_OVERDUE_LIMIT = 100  # the page lists the longest overdue; the .xlsx has them all


def _as_of(source) -> tuple[date, str | None]:
    today = local_today(utcnow(), current_app.config["TIMEZONE"])
    return parse_as_of(source.get("as_of"), today)


def _figures(as_of: date) -> ReviewFigures:
    db = get_session()
    return review_service.load_figures(db, as_of=as_of, calendar=load_calendar(db),
                                       tz=ZoneInfo(current_app.config["TIMEZONE"]))  # fmt: skip


@bp.route("/")
@require(Permission.VIEW_REVIEW)
def index():
    as_of, error = _as_of(request.args)
    if error:
        flash(error + "已按今天统计。", "warning")
    figures = _figures(as_of)
    return render_template(
        "review/index.html", f=figures, as_of=as_of, wording=wording, percent=percent,
        overdue=figures.overdue_tasks[:PAGE_OVERDUE_LIMIT],
        office_chart=Markup(charts.office_completion_svg(figures)),
        month_chart=Markup(charts.closed_per_month_svg(figures)),
        send_form=CsrfOnlyForm() if can(Permission.MANAGE_TASKS) else None,
    )  # fmt: skip


def _export(extension: str, mimetype: str):
    as_of, error = _as_of(request.args)
    if error:  # nothing is exported under a date the user did not ask for
        flash(error + "未导出。", "error")
        return redirect(url_for("review.index"))
    figures = _figures(as_of)
    db = get_session()
    if extension == "docx":
        body = review_service.export_docx(figures, review_service.masthead(db, as_of=as_of))
    else:
        body = review_service.export_xlsx(figures)
    review_service.record_export(db, as_of=as_of, kind=extension, actor=current_user,
                                 ip=client_ip())  # fmt: skip
    db.commit()
    # send_file writes the Chinese name as RFC 5987 filename*=UTF-8''…, with an ASCII fallback.
    return send_file(BytesIO(body), as_attachment=True, mimetype=mimetype, max_age=0,
                     download_name=review_service.filename(as_of, extension))  # fmt: skip


@bp.route("/export.docx")
@require(Permission.VIEW_REVIEW)
def export_docx():
    return _export("docx", review_service.DOCX_TYPE)


@bp.route("/export.xlsx")
@require(Permission.VIEW_REVIEW)
def export_xlsx():
    return _export("xlsx", review_service.XLSX_TYPE)


@bp.route("/send", methods=["POST"])
@require(Permission.MANAGE_TASKS)
def send():
    form = CsrfOnlyForm()
    as_of, error = _as_of(request.form)
    back = redirect(url_for("review.index", as_of=as_of.isoformat()))
    if not form.validate_on_submit() or error:
        flash(error or "表单已失效，请刷新页面后重试。", "error")
        return back
    db = get_session()
    sent = review_service.send_now(
        db, figures=_figures(as_of), actor=current_user, now=utcnow(),
        base_url=current_app.config["BASE_URL"], ip=client_ip(),
        coordinators=request.form.get("coordinators") == "1",
    )  # fmt: skip
    if not sent:
        db.rollback()
        flash("没有可发送的对象：请先为分管领导账号填写邮箱。", "error")
        return back
    db.commit()
    flash(f"已加入发送队列（{sent}人）。", "success")
    return back
