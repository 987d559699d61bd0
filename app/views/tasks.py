"""Task lists and the task page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy.orm import selectinload
from sqlmodel import or_, select

from app.access import get_visible_task, require, visible_tasks_filter
from app.core.lifecycle import STATUS_LABELS, TaskStatus
from app.core.roles import Permission
from app.db import get_session
from app.forms import TaskFilterForm, options
from app.models import Commitment, DeadlineChange, ProgressUpdate, Report, Task
from app.pagination import paginate
from app.services.offices import list_offices
from app.views import page_number

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

_LIST_LOADS = (selectinload(Task.lead_office), selectinload(Task.owner))


@bp.route("/mine")
@require(Permission.VIEW_OWN_OFFICE_TASKS)
def mine():
    tasks = get_session().exec(
        select(Task)
        .where(visible_tasks_filter(current_user))
        .options(*_LIST_LOADS)
        .order_by(Task.deadline, Task.id)
    )
    grouped: dict[TaskStatus, list[Task]] = {status: [] for status in TaskStatus}
    for task in tasks:
        grouped[TaskStatus(task.status)].append(task)
    return render_template("tasks/mine.html", grouped=grouped, labels=STATUS_LABELS)


@bp.route("/")
@require(Permission.VIEW_ALL_TASKS)
def index():
    db = get_session()
    form = TaskFilterForm(formdata=None)
    form.process(formdata=request.args)
    form.office_id.choices = options([(None, "全部")] + [(o.id, o.name) for o in list_offices(db)])
    form.status.choices = options([("", "全部"), *((s.value, x) for s, x in STATUS_LABELS.items())])
    query = select(Task).options(*_LIST_LOADS).order_by(Task.deadline, Task.id)
    if form.q.data:
        pattern = f"%{form.q.data.strip()}%"
        query = query.where(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
    if form.office_id.data:
        query = query.where(Task.lead_office_id == form.office_id.data)
    if form.status.data in {s.value for s in TaskStatus}:
        query = query.where(Task.status == form.status.data)
    report_id = request.args.get("report", type=int)
    if report_id:
        from_report = select(Commitment.id).where(Commitment.report_id == report_id)
        query = query.where(Task.commitment_id.in_(from_report))
    page = paginate(db, query, page_number(), current_app.config["PAGE_SIZE"])
    return render_template("tasks/index.html", form=form, page=page)


@bp.route("/<int:task_id>")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def detail(task_id: int):
    db = get_session()
    task = get_visible_task(task_id)
    commitment = db.get(Commitment, task.commitment_id) if task.commitment_id else None
    report = db.get(Report, commitment.report_id) if commitment else None
    updates = db.exec(
        select(ProgressUpdate)
        .where(ProgressUpdate.task_id == task.id)
        .options(selectinload(ProgressUpdate.outcomes))
        .order_by(ProgressUpdate.created_at.desc())
    ).all()
    deadlines = db.exec(
        select(DeadlineChange)
        .where(DeadlineChange.task_id == task.id)
        .order_by(DeadlineChange.changed_at)
    ).all()
    return render_template(
        "tasks/detail.html", task=task, commitment=commitment, report=report,
        updates=updates, deadlines=deadlines,
    )  # fmt: skip
