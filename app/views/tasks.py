"""Task lists and the task page."""

from __future__ import annotations

from collections import Counter
from io import BytesIO

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
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select

from app.access import can, get_visible_task, require, visible_tasks_filter
from app.clock import utcnow
from app.core import lifecycle
from app.core.errors import DomainError
from app.core.lifecycle import STATUS_LABELS, Action, TaskStatus
from app.core.roles import Permission
from app.core.timefmt import format_date_cn, local_today
from app.db import get_session
from app.forms import BulkForm, CsrfOnlyForm, TaskFilterForm, options
from app.models import (
    Attachment,
    Commitment,
    DeadlineChange,
    Office,
    ProgressUpdate,
    Report,
    Task,
    User,
)
from app.pagination import paginate
from app.services import attachments, audit, ledger
from app.services import task_workflow as workflow
from app.services.holidays import load_calendar
from app.services.offices import list_offices
from app.services.task_queries import SORT_LABELS, TaskFilters, task_query
from app.views import client_ip, page_number
from app.views.task_forms import OUTCOME_ROWS, read_request

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.route("/mine")
@require(Permission.VIEW_OWN_OFFICE_TASKS)
def mine():
    db = get_session()
    today, calendar = _today(), load_calendar(db)
    tasks = db.exec(task_query(TaskFilters(), current_user, today, calendar)).all()
    grouped: dict[TaskStatus, list[Task]] = {status: [] for status in TaskStatus}
    for task in tasks:
        grouped[TaskStatus(task.status)].append(task)
    lights = _lights(tasks, today, calendar)
    return render_template(
        "tasks/mine.html", grouped=grouped, labels=STATUS_LABELS, lights=lights,
        light_counts=Counter(lights.values()),
    )  # fmt: skip


def _lights(tasks, today, calendar) -> dict[int, lifecycle.Light]:
    return {t.id: lifecycle.light(t.status, t.deadline, today, calendar) for t in tasks}


def _office_names(db) -> list[tuple[int, str]]:
    """(id, name) of every office: plain rows, no ORM objects (a unit may have hundreds)."""
    return list(db.exec(select(Office.id, Office.name).order_by(Office.kind, Office.id)).all())


def _filter_form(db) -> tuple[TaskFilterForm, TaskFilters]:
    form = TaskFilterForm(formdata=request.args)
    form.status.choices = options([("", "全部"), *((s.value, x) for s, x in STATUS_LABELS.items())])
    form.sort.choices = options(SORT_LABELS.items())
    valid = form.validate()
    data = form.data if valid else {}
    filters = TaskFilters(
        q=data.get("q"), office_id=data.get("office_id"), status=data.get("status"),
        light=data.get("light"), year=data.get("year"), due_from=data.get("due_from"),
        due_to=data.get("due_to"), sort=data.get("sort") or "deadline",
        report_id=request.args.get("report", type=int),
        commitment_id=request.args.get("commitment", type=int),
    )  # fmt: skip
    return form, filters


@bp.route("/")
@require(Permission.VIEW_ALL_TASKS)
def index():
    db = get_session()
    form, filters = _filter_form(db)
    today, calendar = _today(), load_calendar(db)
    page = paginate(db, task_query(filters, current_user, today, calendar), page_number(),
                    current_app.config["PAGE_SIZE"])  # fmt: skip
    return render_template(
        "tasks/index.html", form=form, page=page, lights=_lights(page.items, today, calendar),
        bulk=BulkForm() if can(Permission.MANAGE_TASKS) else None, offices=_office_names(db),
    )  # fmt: skip


@bp.route("/export.xlsx")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def export():
    db = get_session()
    form, filters = _filter_form(db)
    today, calendar = _today(), load_calendar(db)
    tasks = list(db.exec(task_query(filters, current_user, today, calendar)))
    body = ledger.ledger_xlsx(
        f"督办台账（{format_date_cn(today)}导出）", ledger.ledger_tasks(db, tasks, today, calendar)
    )
    audit.record(db, actor=current_user, action="task.export", object_type="task",
                 after={"rows": len(tasks), "query": request.query_string.decode()[:500]},
                 ip=client_ip())  # fmt: skip
    db.commit()
    return send_file(
        BytesIO(body), as_attachment=True, download_name=f"督办台账-{today.isoformat()}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", max_age=0,
    )  # fmt: skip


@bp.route("/bulk", methods=["POST"])
@require(Permission.MANAGE_TASKS)
def bulk():
    db = get_session()
    form = BulkForm()
    ids = [i for i in request.form.getlist("task_ids", type=int) if i]
    back = redirect(request.form.get("back") or url_for("tasks.index"))
    if not form.validate_on_submit() or not ids:
        errors = [e for field in form for e in field.errors]
        flash(errors[0] if errors else "请先勾选任务。", "error")
        return back
    tasks = db.exec(select(Task).where(Task.id.in_(ids), visible_tasks_filter(current_user))).all()
    action = Action.REASSIGN if form.action.data == "reassign" else Action.EXTEND
    result = workflow.perform_bulk(
        db, tasks=list(tasks), user=current_user, action=action, today=_today(), now=utcnow(),
        request=workflow.Request(reason=form.reason.data, office_id=form.office_id.data,
                                 new_deadline=form.new_deadline.data), ip=client_ip(),
    )  # fmt: skip
    db.commit()
    flash(f"已处理 {result.done} 项任务。", "success" if result.done else "info")
    for title, why in result.refused[:10]:
        flash(f"“{title}”未处理：{why}", "error")
    return back


def _today():
    return local_today(utcnow(), current_app.config["TIMEZONE"])


@bp.route("/<int:task_id>")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def detail(task_id: int):
    db = get_session()
    task = get_visible_task(task_id)
    commitment = db.get(Commitment, task.commitment_id) if task.commitment_id else None
    today = _today()
    calendar = load_calendar(db)
    history = workflow.timeline(db, task)
    report_due = None
    if task.recurrence:
        reports = [e.at for e in history if e.kind == "progress"]
        timezone = current_app.config["TIMEZONE"]
        report_due = lifecycle.next_report_due(
            task.recurrence, local_today(max(reports), timezone) if reports else None,
            local_today(task.created_at, timezone), calendar,
        )  # fmt: skip
    return render_template(
        "tasks/detail.html", task=task, commitment=commitment,
        report=db.get(Report, commitment.report_id) if commitment else None,
        deadlines=db.exec(select(DeadlineChange).where(DeadlineChange.task_id == task.id)
                          .order_by(DeadlineChange.changed_at, DeadlineChange.id)).all(),
        timeline=history, report_due=report_due, today=today,
        returned=workflow.return_reason(db, task),
        actions=workflow.allowed_actions(db, task, current_user, today),
        pending=workflow.pending_extension(db, task.id),
        light=lifecycle.light(task.status, task.deadline, today, calendar),
        form=CsrfOnlyForm(),
        Action=Action, outcome_rows=range(OUTCOME_ROWS),
    )  # fmt: skip


def _office_users(db, offices) -> dict[int, list[User]]:
    users: dict[int, list[User]] = {o.id: [] for o in offices}
    for user in db.exec(select(User).where(User.is_active, User.office_id.in_(list(users)))):
        users[user.office_id].append(user)
    return users


@bp.route("/<int:task_id>/reassign")
@require(Permission.MANAGE_TASKS)
def reassign(task_id: int):
    db = get_session()
    task = get_visible_task(task_id)
    offices = list_offices(db, active_only=True)
    return render_template(
        "tasks/reassign.html", task=task, offices=offices,
        office_users=_office_users(db, offices), Action=Action,
    )  # fmt: skip


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
