"""Imported and drafted reports."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import func
from sqlmodel import select

from app.access import require
from app.core.roles import Permission
from app.db import get_session
from app.models import Commitment, Problem, Report, Task, Unit

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
    return render_template(
        "reports/detail.html", report=report, unit=unit, problems=problems,
        commitments=commitments, task_counts=task_counts,
    )  # fmt: skip
