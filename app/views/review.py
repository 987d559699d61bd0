"""进度通报: the figures so far (the full review with exports comes with its own issue)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func
from sqlmodel import select

from app.access import require
from app.core.lifecycle import STATUS_LABELS, TaskStatus
from app.core.roles import Permission
from app.db import get_session
from app.models import Office, Task

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.route("/")
@require(Permission.VIEW_REVIEW)
def index():
    db = get_session()
    by_status = dict(db.exec(select(Task.status, func.count(Task.id)).group_by(Task.status)).all())
    by_office = db.exec(
        select(Office.name, Task.status, func.count(Task.id))
        .join(Office, Office.id == Task.lead_office_id)
        .group_by(Office.name, Task.status)
        .order_by(Office.name)
    ).all()
    offices: dict[str, dict[str, int]] = {}
    for name, status, count in by_office:
        offices.setdefault(name, {})[status] = count
    total = sum(by_status.values())
    closed = by_status.get(TaskStatus.CLOSED.value, 0)
    return render_template(
        "review/index.html", by_status=by_status, offices=offices, total=total, closed=closed,
        labels=STATUS_LABELS,
    )  # fmt: skip
