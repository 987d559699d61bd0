"""An office's page: its members, its open tasks and its on-time rate."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user
from sqlalchemy.orm import selectinload
from sqlmodel import select

from app.access import can, require
from app.clock import utcnow
from app.core import lifecycle
from app.core.lifecycle import OPEN_STATUSES, TaskStatus
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session
from app.models import Office, Task, User
from app.services.holidays import load_calendar

bp = Blueprint("offices", __name__, url_prefix="/offices")


@bp.route("/<int:office_id>")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def detail(office_id: int):
    db = get_session()
    office = db.get(Office, office_id)
    if office is None or not (
        can(Permission.VIEW_ALL_TASKS) or current_user.office_id == office_id
    ):
        abort(404)
    timezone = current_app.config["TIMEZONE"]
    today, calendar = local_today(utcnow(), timezone), load_calendar(db)
    tasks = db.exec(
        select(Task).where(Task.lead_office_id == office_id)
        .options(selectinload(Task.owner), selectinload(Task.lead_office))
        .order_by(Task.deadline, Task.id)
    ).all()  # fmt: skip
    open_tasks = [t for t in tasks if TaskStatus(t.status) in OPEN_STATUSES]
    closed = [(local_today(t.closed_at, timezone), t.deadline) for t in tasks
              if t.status == TaskStatus.CLOSED and t.closed_at]  # fmt: skip
    members = db.exec(
        select(User).where(User.office_id == office_id).options(selectinload(User.role_rows))
        .order_by(User.name)
    ).all()  # fmt: skip
    return render_template(
        "offices/detail.html", office=office, members=members, open_tasks=open_tasks,
        total=len(tasks), closed=len(closed), on_time=lifecycle.on_time_rate(closed),
        lights={t.id: lifecycle.light(t.status, t.deadline, today, calendar) for t in open_tasks},
    )  # fmt: skip
