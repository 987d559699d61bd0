"""Task lists and the task page."""

from __future__ import annotations

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
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import or_, select

from app.access import get_visible_task, require, visible_tasks_filter
from app.clock import utcnow
from app.core import lifecycle
from app.core.errors import DomainError
from app.core.lifecycle import STATUS_LABELS, Action, TaskStatus
from app.core.roles import Permission
from app.core.timefmt import local_today
from app.db import get_session
from app.forms import CsrfOnlyForm, TaskFilterForm, options
from app.models import Attachment, Commitment, DeadlineChange, ProgressUpdate, Report, Task, User
from app.pagination import paginate
from app.services import attachments
from app.services import task_workflow as workflow
from app.services.holidays import load_calendar
from app.services.offices import list_offices
from app.views import client_ip, page_number
from app.views.task_forms import OUTCOME_ROWS, read_request

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


def _today():
    return local_today(utcnow(), current_app.config["TIMEZONE"])


@bp.route("/<int:task_id>")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def detail(task_id: int):
    db = get_session()
    task = get_visible_task(task_id)
    commitment = db.get(Commitment, task.commitment_id) if task.commitment_id else None
    today = _today()
    offices = [o for o in list_offices(db, active_only=True)]
    return render_template(
        "tasks/detail.html", task=task, commitment=commitment,
        report=db.get(Report, commitment.report_id) if commitment else None,
        deadlines=db.exec(select(DeadlineChange).where(DeadlineChange.task_id == task.id)
                          .order_by(DeadlineChange.changed_at, DeadlineChange.id)).all(),
        timeline=workflow.timeline(db, task),
        actions=workflow.allowed_actions(db, task, current_user, today),
        pending=workflow.pending_extension(db, task.id),
        light=lifecycle.light(task.status, task.deadline, today, load_calendar(db)),
        offices=offices, office_users=_office_users(db, offices), form=CsrfOnlyForm(),
        Action=Action, outcome_rows=range(OUTCOME_ROWS),
    )  # fmt: skip


def _office_users(db, offices) -> dict[int, list[User]]:
    users: dict[int, list[User]] = {o.id: [] for o in offices}
    for user in db.exec(select(User).where(User.is_active, User.office_id.in_(list(users)))):
        users[user.office_id].append(user)
    return users


@bp.route("/<int:task_id>/act/<action>", methods=["POST"])
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def act(task_id: int, action: str):
    db = get_session()
    task = get_visible_task(task_id)
    if action not in {a.value for a in Action}:
        abort(404)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        result = workflow.perform(
            db, task=task, user=current_user, action=Action(action),
            request=read_request(request.form), today=_today(), now=utcnow(), ip=client_ip(),
        )  # fmt: skip
        if result.update_id:
            _attach_files(result.update_id)
        db.commit()
    except DomainError as error:
        db.rollback()
        flash(error.message, "error")
    except StaleDataError:
        db.rollback()
        flash(workflow.STALE, "error")
    else:
        flash(result.message, "success")
    return redirect(url_for("tasks.detail", task_id=task_id))


def _attach_files(update_id: int) -> None:
    for upload in request.files.getlist("files"):
        if upload and upload.filename:
            attachments.save_attachment(
                get_session(), instance_path=current_app.instance_path,
                owner_type="progress_update", owner_id=update_id, filename=upload.filename,
                stream=upload.stream, user=current_user, now=utcnow(), ip=client_ip(),
            )  # fmt: skip


@bp.route("/<int:task_id>/files/<int:attachment_id>")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def attachment(task_id: int, attachment_id: int):
    db = get_session()
    task = get_visible_task(task_id)
    row = db.get(Attachment, attachment_id)
    update = (
        db.get(ProgressUpdate, row.owner_id)
        if row and row.owner_type == "progress_update"
        else None
    )
    if update is None or update.task_id != task.id:
        abort(404)
    return send_file(
        attachments.attachment_path(current_app.instance_path, row), as_attachment=True,
        download_name=row.original_name, mimetype=row.mime_type, max_age=0,
    )  # fmt: skip
