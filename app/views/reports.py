"""Imported and drafted reports."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import select

from app.access import require
from app.clock import utcnow
from app.core import import_plan as plans
from app.core.errors import DomainError
from app.core.report_types import ParseError
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session
from app.forms import CsrfOnlyForm, ImportUploadForm, options
from app.models import Commitment, ImportDraft, Office, Problem, Report, Task, Unit, User
from app.report_files import MAX_REPORT_BYTES, normalise_text, read_report_file
from app.services import report_import
from app.views import client_ip, import_form, show_domain_error

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.route("/")
@require(Permission.VIEW_REPORTS)
def index():
    rows = (
        get_session()
        .exec(
            select(Report, Unit.name, func.count(Commitment.id))
            .join(Unit, Unit.id == Report.unit_id)
            .outerjoin(Commitment, Commitment.report_id == Report.id)
            .group_by(Report.id, Unit.name)
            .order_by(Report.year.desc(), Report.id.desc())
        )
        .all()
    )
    return render_template("reports/index.html", rows=rows)


@bp.route("/<int:report_id>")
@require(Permission.VIEW_REPORTS)
def detail(report_id: int):
    db = get_session()
    report = db.get(Report, report_id) or abort(404)
    unit = db.get(Unit, report.unit_id)
    problems = db.exec(
        select(Problem).where(Problem.report_id == report.id).order_by(Problem.position)
    ).all()
    commitments = db.exec(
        select(Commitment).where(Commitment.report_id == report.id).order_by(Commitment.position)
    ).all()
    task_counts = dict(
        db.exec(
            select(Task.commitment_id, func.count(Task.id))
            .where(Task.commitment_id.in_([c.id for c in commitments]))
            .group_by(Task.commitment_id)
        ).all()
    )
    repeat_ids = [c.repeats_id for c in commitments if c.repeats_id]
    repeats = {c.id: c for c in db.exec(select(Commitment).where(Commitment.id.in_(repeat_ids)))}
    return render_template(
        "reports/detail.html", report=report, unit=unit, problems=problems,
        commitments=commitments, task_counts=task_counts, repeats=repeats,
    )  # fmt: skip


# -- import -----------------------------------------------------------------------------------


def _units() -> list[Unit]:
    return list(get_session().exec(select(Unit).order_by(Unit.id)))


def _uploaded_text(form: ImportUploadForm) -> tuple[str, str | None]:
    upload = form.file.data
    if upload and upload.filename:
        data = upload.stream.read(MAX_REPORT_BYTES + 1)
        return read_report_file(upload.filename, data), upload.filename
    if form.text.data and form.text.data.strip():
        return normalise_text(form.text.data), None
    raise DomainError("请选择报告文件，或粘贴报告全文。", "file")


@bp.route("/import", methods=["GET", "POST"])
@require(Permission.MANAGE_REPORTS)
def import_upload():
    db = get_session()
    form = ImportUploadForm()
    form.unit_id.choices = options((u.id, u.name) for u in _units())
    if form.validate_on_submit():
        try:
            text, filename = _uploaded_text(form)
            draft = report_import.start_import(
                db, unit_id=form.unit_id.data, text=text, filename=filename,
                year=form.year.data, actor=current_user, now=utcnow(),
            )  # fmt: skip
        except (DomainError, ParseError) as error:
            db.rollback()
            show_domain_error(form, _as_domain_error(error))
        else:
            db.commit()
            return redirect(url_for("reports.import_preview", draft_id=draft.id))
    return render_template("reports/import_upload.html", form=form)


def _as_domain_error(error: Exception) -> DomainError:
    return error if isinstance(error, DomainError) else DomainError(error.message, "file")


def _open_draft(draft_id: int) -> ImportDraft:
    draft = get_session().get(ImportDraft, draft_id)
    if draft is None:
        abort(404)
    return draft


@bp.route("/import/<int:draft_id>", methods=["GET", "POST"])
@require(Permission.MANAGE_REPORTS)
def import_preview(draft_id: int):
    draft = _open_draft(draft_id)
    if draft.status == report_import.DRAFT_CONFIRMED and draft.report_id:
        return redirect(url_for("reports.detail", report_id=draft.report_id))
    form = CsrfOnlyForm()
    if draft.status == report_import.DRAFT_OPEN and form.validate_on_submit():
        response = _handle_preview_post(draft)
        if response is not None:
            return response
    return _render_preview(draft, form)


def _handle_preview_post(draft: ImportDraft):
    db = get_session()
    action = request.form.get("action", "save")
    if action == "discard":
        report_import.discard(db, draft, utcnow())
        db.commit()
        flash("已放弃本次导入，没有写入任何数据。", "info")
        return redirect(url_for("reports.index"))
    context = report_import.plan_context(db, draft.unit_id, draft.year)
    try:
        plan = import_form.apply_edits(draft.plan, request.form, context)
        plan = import_form.apply_action(plan, action, request.form, context)
        report_import.save_plan(db, draft, plan, utcnow())
        if action == "confirm":
            report = report_import.confirm_import(
                db, draft=draft, actor=current_user, now=utcnow(), ip=client_ip()
            )
    except DomainError as error:
        db.rollback()
        flash(error.message, "error")
        return None
    db.commit()
    if action == "confirm":
        flash(f"导入完成：{report.title}。", "success")
        return redirect(url_for("tasks.index", report=report.id))
    return redirect(url_for("reports.import_preview", draft_id=draft.id, _anchor=_anchor(action)))


def _anchor(action: str) -> str:
    _, _, index = action.partition("-")
    return f"c-{index}" if index.isdigit() else "plan"


def _render_preview(draft: ImportDraft, form: CsrfOnlyForm):
    db = get_session()
    offices = report_import.office_choices(db, draft.unit_id)
    owners = db.exec(
        select(User).join(Office, Office.id == User.office_id)
        .where(Office.unit_id == draft.unit_id, User.is_active).order_by(User.name)
    ).all()  # fmt: skip
    return render_template(
        "reports/import_preview.html", draft=draft, form=form, plan=draft.plan,
        unit=db.get(Unit, draft.unit_id), offices=offices, owners=owners,
        segments=import_form.highlighted_segments(draft.source_text, draft.plan["commitments"]),
        summary=report_import.proposal_summary(draft), sentences=plans.measures_of,
        problems_to_fix=plans.plan_problems(draft.plan),
        today=local_today(utcnow(), current_app.config["TIMEZONE"]).isoformat(),
    )  # fmt: skip
