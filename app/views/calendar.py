"""工作日历: the statutory holidays and 调休 days that working-day deadlines rely on (admins)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.access import require
from app.clock import utcnow
from app.core.errors import DomainError
from app.core.roles import Permission
from app.core.timefmt import format_date_cn, local_today
from app.core.workdays import HolidayEntry
from app.db import get_session
from app.forms_calendar import (
    MAX_YEAR,
    MIN_YEAR,
    ConfirmForm,
    HolidayDayForm,
    HolidayImportForm,
    SeedForm,
)
from app.models import Holiday
from app.services import holidays as holiday_service
from app.views import client_ip, show_domain_error

bp = Blueprint("calendar", __name__, url_prefix="/admin/calendar")

WEEKDAYS_CN = ["一", "二", "三", "四", "五", "六", "日"]


def _this_year() -> int:
    return local_today(utcnow(), current_app.config["TIMEZONE"]).year


def _chosen_year() -> int:
    year = request.args.get("year", type=int)
    return year if year is not None and MIN_YEAR <= year <= MAX_YEAR else _this_year()


def _render_index(year: int, import_form: HolidayImportForm | None = None) -> str:
    db = get_session()
    return render_template(
        "calendar/index.html",
        year=year,
        rows=holiday_service.list_year(db, year),
        known_years=holiday_service.known_years(db),
        library_years=holiday_service.library_years(),
        day_form=HolidayDayForm(formdata=None, data={"day": None, "kind": "rest"}),
        import_form=import_form or HolidayImportForm(formdata=None),
        seed_form=SeedForm(formdata=None, data={"year": year}),
        confirm_form=ConfirmForm(),
        weekdays=WEEKDAYS_CN,
    )


@bp.route("/")
@require(Permission.MANAGE_CALENDAR)
def index():
    return _render_index(_chosen_year())


@bp.route("/day", methods=["GET", "POST"])
@bp.route("/day/<day_iso>", methods=["GET", "POST"])
@require(Permission.MANAGE_CALENDAR)
def day_form(day_iso: str | None = None):
    db = get_session()
    row = (db.get(Holiday, _parse_day(day_iso)) or abort(404)) if day_iso else None
    form = HolidayDayForm(obj=row)
    if row is not None:
        # Editing keeps the date; a different date is a new entry.
        form.day.data = row.day
        if not form.is_submitted():
            form.kind.data = "work" if row.is_workday else "rest"
    if form.validate_on_submit():
        entry = HolidayEntry(form.day.data, form.is_workday, form.name.data or "")
        try:
            holiday_service.save_entries(db, [entry], actor=current_user, ip=client_ip())
        except DomainError as error:
            db.rollback()
            show_domain_error(form, error)
        else:
            db.commit()
            flash(f"已保存{format_date_cn(entry.day)}。", "success")
            return redirect(url_for("calendar.index", year=entry.day.year))
    return render_template("calendar/day_form.html", form=form, row=row)


@bp.route("/day/<day_iso>/delete", methods=["POST"])
@require(Permission.MANAGE_CALENDAR)
def delete(day_iso: str):
    day = _parse_day(day_iso)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = get_session()
    try:
        holiday_service.delete_entry(db, day, actor=current_user, ip=client_ip())
    except DomainError as error:
        db.rollback()
        flash(error.message, "error")
    else:
        db.commit()
        flash(f"已删除{format_date_cn(day)}，该日恢复按周一至周五计算。", "success")
    return redirect(url_for("calendar.index", year=day.year))


@bp.route("/import", methods=["POST"])
@require(Permission.MANAGE_CALENDAR)
def import_lines():
    form = HolidayImportForm()
    year = _chosen_year()
    if form.validate_on_submit():
        db = get_session()
        try:
            result = holiday_service.import_lines(
                db, form.lines.data, actor=current_user, ip=client_ip()
            )
        except DomainError as error:
            db.rollback()
            form.lines.errors = [*form.lines.errors, error.message]
            flash("批量导入未保存，原因见“批量导入”下方的说明。", "error")
        else:
            db.commit()
            flash(
                f"已导入：新增{result.added}天，修改{result.updated}天，{result.unchanged}天无变化。",
                "success",
            )
            shown = result.years[0] if result.years else year
            return redirect(url_for("calendar.index", year=shown))
    return _render_index(year, import_form=form)


@bp.route("/seed", methods=["POST"])
@require(Permission.MANAGE_CALENDAR)
def seed():
    form = SeedForm()
    year = form.year.data if form.validate_on_submit() else None
    if year is None:
        flash("；".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("calendar.index"))
    db = get_session()
    try:
        count = holiday_service.seed_from_library(db, [year], actor=current_user, ip=client_ip())
    except DomainError as error:
        db.rollback()
        flash(error.message, "error")
    else:
        db.commit()
        flash(f"已从日历库导入{year}年：{count}天有新增或更正。" if count else
              f"{year}年已与日历库一致，无需更改。", "success")  # fmt: skip
    return redirect(url_for("calendar.index", year=year))


def _parse_day(day_iso: str) -> date:
    try:
        return date.fromisoformat(day_iso)
    except ValueError:
        abort(404)
