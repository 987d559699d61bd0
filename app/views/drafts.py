"""报告初稿: next year's report, drafted from the tracked year, edited and versioned, exported.

The report imported for year N−1 was tracked during year N; its draft is 关于N年度…的报告.
"""

from __future__ import annotations

from datetime import date
from io import BytesIO
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import select
from werkzeug.datastructures import MultiDict

from app.access import can, deny, require
from app.clock import utcnow
from app.core import drafting
from app.core.errors import DomainError
from app.core.glossary import ReportStatus
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session
from app.forms import CsrfOnlyForm
from app.models import Commitment, Report, ReportDraft, Task, Unit
from app.services import drafts as service
from app.views import client_ip

bp = Blueprint("drafts", __name__, url_prefix="/drafts")

_ID_MAX = 2**31 - 1
_FORM_BROKEN = "表单内容不完整，请刷新页面后重试。"


def _timezone() -> str:
    return current_app.config["TIMEZONE"]


def _today() -> date:
    return local_today(utcnow(), _timezone())


def _int(value: str | None, *, low: int = 0, high: int = _ID_MAX) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and low <= number <= high else None


# -- the list and generating ----------------------------------------------------------------


@bp.route("/")
@require(Permission.VIEW_REPORTS)
def index():
    db = get_session()
    reports = db.exec(
        select(Report, Unit.name)
        .join(Unit, Unit.id == Report.unit_id)
        .where(Report.status == ReportStatus.IMPORTED.value)
        .order_by(Report.year.desc(), Report.id.desc())
    ).all()
    drafts = {(d.unit_id, d.year): d for d in db.exec(select(ReportDraft))}
    rows = [(r, unit, drafts.get((r.unit_id, service.tracked_year(r)))) for r, unit in reports]
    return render_template("drafts/index.html", rows=rows)


def _report(report_id: int | None) -> Report:
    report = get_session().get(Report, report_id) if report_id else None
    if report is None:
        abort(404)
    return report


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.VIEW_REPORTS)
def new():
    db = get_session()
    report = _report(_int(request.values.get("report_id"), low=1))
    draft = service.draft_of(db, report.unit_id, service.tracked_year(report))
    if not can(Permission.MANAGE_REPORTS):
        if draft is not None:
            return redirect(url_for("drafts.show", draft_id=draft.id))
        if request.method == "POST":
            deny()
    form = CsrfOnlyForm()
    themes = _current_themes(draft)
    if request.method == "POST" and can(Permission.MANAGE_REPORTS):
        if not form.validate_on_submit():
            flash("页面已过期，请重试。", "error")
        else:
            try:
                themes = _themes_from(request.form)
                draft = service.generate(
                    db, report=report, actor=current_user, now=utcnow(), today=_today(),
                    timezone=_timezone(), dated=_date_from(request.form.get("dated")),
                    themes=themes, note=request.form.get("note"),
                    base_version=_regenerating_on(draft, request.form),
                    ip=client_ip(),
                )  # fmt: skip
            except DomainError as error:
                db.rollback()
                flash(error.message, "error")
                draft = service.draft_of(db, report.unit_id, service.tracked_year(report))
            else:
                db.commit()
                flash(f"已生成{draft.title}（初稿第{draft.current_version}版）。", "success")
                return redirect(url_for("drafts.show", draft_id=draft.id))
    return _render_new(report, draft, form, themes)


def _current_themes(draft: ReportDraft | None) -> dict[int, str]:
    if draft is None or draft.current_version == 0:
        return {}
    try:
        _, content = service.current(get_session(), draft)
    except DomainError:
        return {}
    return dict(content.themes)


def _render_new(report: Report, draft: ReportDraft | None, form: CsrfOnlyForm,
                themes: dict[int, str]):  # fmt: skip
    db = get_session()
    commitments = db.exec(
        select(Commitment).where(Commitment.report_id == report.id).order_by(Commitment.position)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for commitment_id, status, count in db.exec(
        select(Task.commitment_id, Task.status, func.count(Task.id))
        .join(Commitment, Commitment.id == Task.commitment_id)
        .where(Commitment.report_id == report.id)
        .group_by(Task.commitment_id, Task.status)
    ):  # fmt: skip
        counts.setdefault(commitment_id, {})[status] = count
    return render_template(
        "drafts/new.html", report=report, unit=db.get(Unit, report.unit_id), draft=draft,
        form=form, commitments=commitments, counts=counts, themes=themes,
        year=service.tracked_year(report), today=_today(),
        dated=request.form.get("dated", ""), note=request.form.get("note", ""),
    )  # fmt: skip


def _themes_from(form: MultiDict) -> dict[int, str]:
    themes: dict[int, str] = {}
    for name, value in form.items():
        if name.startswith("theme-"):
            commitment_id = _int(name.removeprefix("theme-"), low=1)
            if commitment_id is None:
                raise DomainError(_FORM_BROKEN)
            themes[commitment_id] = value
    return themes


def _date_from(text: str | None) -> date | None:
    if not text or not text.strip():
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError("成文日期格式不正确，请选择日期（如 2023-01-05）。", "dated") from None
    if not 2000 <= value.year <= 2100:
        raise DomainError("成文日期应在2000年至2100年之间。", "dated")
    return value


def _regenerating_on(draft: ReportDraft | None, form: MultiDict) -> int | None:
    """The version a regeneration is made on top of (None for the first generation)."""
    if draft is None:
        return None
    if "base_version" not in form:  # the page was opened before anyone had generated
        raise DomainError(
            f"{draft.year}年度报告初稿已由其他用户生成（第{draft.current_version}版），"
            "请先查看；如需按最新任务情况重新生成，请再次提交。"
        )
    return _base_from(form)


def _base_from(form: MultiDict) -> int:
    base = _int(form.get("base_version"))
    if base is None:
        raise DomainError(_FORM_BROKEN)
    return base


# -- one draft ------------------------------------------------------------------------------


def _draft(draft_id: int) -> ReportDraft:
    draft = get_session().get(ReportDraft, draft_id)
    if draft is None:
        abort(404)
    return draft


def _paragraph_rows(content: drafting.Draft) -> dict[str, list[tuple[Any, int | None]]]:
    """Per section, each paragraph with its printed number (None for a paragraph without a
    heading, which is printed without one)."""
    rows: dict[str, list[tuple[Any, int | None]]] = {}
    for section in content.sections:
        number = 0
        numbered = []
        for paragraph in section.paragraphs:
            if paragraph.heading:
                number += 1
            numbered.append((paragraph, number if paragraph.heading else None))
        rows[section.key] = numbered
    return rows


def _render_draft(draft: ReportDraft, content: drafting.Draft, number: int, *,
                  editable: bool, base_version: int | None = None, conflict: str | None = None,
                  note: str = "", status: int = 200):  # fmt: skip
    db = get_session()
    report = db.get(Report, draft.source_report_id)
    history = service.versions(db, draft)
    shown = next((v for v in history if v.number == number), None)
    return render_template(
        "drafts/show.html", draft=draft, content=content, number=number, shown=shown,
        editable=editable, base_version=base_version if base_version is not None else number,
        conflict=conflict, note=note, report=report, unit=db.get(Unit, draft.unit_id),
        rows=_paragraph_rows(content), sources=service.sources(db, content), history=history,
        form=CsrfOnlyForm(), cn_number=drafting.cn_number,
        heading_text=drafting.heading_text, is_kept=drafting.is_kept,
    ), status  # fmt: skip


@bp.route("/<int:draft_id>", methods=["GET", "POST"])
@require(Permission.VIEW_REPORTS)
def show(draft_id: int):
    db = get_session()
    draft = _draft(draft_id)
    if request.method == "POST":
        if not can(Permission.MANAGE_REPORTS):
            deny()
        return _save(draft)
    if draft.current_version == 0:
        return redirect(url_for("drafts.new", report_id=draft.source_report_id))
    try:
        row, content = service.current(db, draft)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("drafts.index"))
    return _render_draft(draft, content, row.number, editable=can(Permission.MANAGE_REPORTS))


def _edits_from(form: MultiDict) -> drafting.DraftEdits:
    sections: dict[str, list[drafting.ParagraphEdit]] = {}
    for key in drafting.SECTION_KEYS:
        raw = form.get(f"{key}-count")
        if raw is None:
            continue
        count = _int(raw, high=drafting.MAX_PARAGRAPHS + 1)
        if count is None:
            raise DomainError(_FORM_BROKEN)
        sections[key] = [
            drafting.ParagraphEdit(form.get(f"{key}-{i}-heading", ""),
                                   form.get(f"{key}-{i}-body", ""))
            for i in range(count)
        ]  # fmt: skip
    return drafting.DraftEdits(
        title=form.get("title", ""), name_block=form.get("name_block", ""),
        addressee=form.get("addressee", ""), opening=form.get("opening", ""),
        signature=form.get("signature", ""), date_text=form.get("date_text", ""),
        sections=sections,
    )  # fmt: skip


def _save(draft: ReportDraft):
    db = get_session()
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        flash("页面已过期，请重新打开后再保存（您的文字未保存，请先复制）。", "error")
        return redirect(url_for("drafts.show", draft_id=draft.id))
    note = request.form.get("note", "")
    try:
        base = _base_from(request.form)
        edits = _edits_from(request.form)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("drafts.show", draft_id=draft.id))
    try:
        row = service.save(
            db, draft=draft, base_version=base, edits=edits, note=note, actor=current_user,
            now=utcnow(), timezone=_timezone(), ip=client_ip(),
        )  # fmt: skip
    except service.DraftConflict as conflict:
        db.rollback()
        # The text comes back on top of the current version: saving again keeps it, and the
        # other person's version stays in the history.
        return _render_draft(
            draft, service.edited(db, draft, base, edits), draft.current_version, editable=True,
            base_version=conflict.current, conflict=conflict.message, note=note, status=409,
        )  # fmt: skip
    except DomainError as error:
        db.rollback()
        return _refused(draft, base, edits, error, note)
    db.commit()
    flash(f"已保存为第{row.number}版。", "success")
    return redirect(url_for("drafts.show", draft_id=draft.id))


def _refused(draft: ReportDraft, base: int, edits: drafting.DraftEdits, error: DomainError,
             note: str):  # fmt: skip
    """The edit form again, as typed, with the reason it was not saved."""
    try:
        shown = service.edited(get_session(), draft, base, edits)
    except DomainError:
        flash(error.message, "error")
        return redirect(url_for("drafts.show", draft_id=draft.id))
    return _render_draft(draft, shown, base, editable=True, base_version=base,
                         conflict=error.message, note=note, status=422)  # fmt: skip


@bp.route("/<int:draft_id>/versions/<int:number>")
@require(Permission.VIEW_REPORTS)
def version(draft_id: int, number: int):
    db = get_session()
    draft = _draft(draft_id)
    try:
        row = service.version_row(db, draft, number)
        content = service.content_of(row)
    except DomainError:
        abort(404)
    return _render_draft(draft, content, row.number, editable=False)


@bp.route("/<int:draft_id>/versions/<int:number>/restore", methods=["POST"])
@require(Permission.MANAGE_REPORTS)
def restore(draft_id: int, number: int):
    db = get_session()
    draft = _draft(draft_id)
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        flash("页面已过期，请重试。", "error")
        return redirect(url_for("drafts.version", draft_id=draft.id, number=number))
    try:
        row = service.restore(
            db, draft=draft, number=number, base_version=_base_from(request.form),
            actor=current_user, now=utcnow(), timezone=_timezone(), ip=client_ip(),
        )  # fmt: skip
    except DomainError as error:
        db.rollback()
        flash(error.message, "error")
        return redirect(url_for("drafts.version", draft_id=draft.id, number=number))
    db.commit()
    flash(f"已将第{number}版恢复为第{row.number}版。", "success")
    return redirect(url_for("drafts.show", draft_id=draft.id))


@bp.route("/<int:draft_id>/export/<fmt>")
@require(Permission.VIEW_REPORTS)
def export(draft_id: int, fmt: str):
    db = get_session()
    draft = _draft(draft_id)
    if fmt not in service.EXPORT_FORMATS:
        abort(404)
    number = draft.current_version
    if "version" in request.args:
        number = _int(request.args.get("version"), low=1) or 0
    try:
        row = service.version_row(db, draft, number)
        content = service.content_of(row)
        body = service.render(content, fmt)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("drafts.show", draft_id=draft.id))
    service.record_export(db, draft=draft, number=row.number, fmt=fmt, actor=current_user,
                          now=utcnow(), ip=client_ip())  # fmt: skip
    db.commit()
    return send_file(
        BytesIO(body), as_attachment=True, mimetype=service.EXPORT_FORMATS[fmt][0],
        download_name=service.export_filename(content, row.number, fmt), max_age=0,
    )  # fmt: skip
