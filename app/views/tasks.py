"""Task lists and the task page."""

from __future__ import annotations

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
from app.forms import BulkForm, CsrfOnlyForm
from app.models import (
    Attachment,
    ProgressUpdate,
    Task,
    User,
)
from app.services import attachments, audit, ledger, task_queries
from app.services import task_workflow as workflow
from app.services.holidays import load_calendar
from app.services.offices import list_offices
from app.services.task_queries import SORT_LABELS, TaskFilters, task_query
from app.views import client_ip, page_number
from app.views.task_forms import OUTCOME_ROWS, blank_bulk_form, read_filters, read_request

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


# 我的任务 lists the first rows of each state (an office may have hundreds of tasks); a link
# under a longer state opens all of that state's tasks, a page at a time.
MINE_ROWS_PER_STATUS = 10
_STATUS_CHOICES = (("", "全部"), *((s.value, label) for s, label in STATUS_LABELS.items()))
_SORT_CHOICES = tuple(SORT_LABELS.items())


@bp.route("/mine")
@require(Permission.VIEW_OWN_OFFICE_TASKS)
def mine():
    db = get_session()
    today, calendar = _today(), load_calendar(db)
    status = request.args.get("status")
    status = TaskStatus(status) if status in STATUS_LABELS else None
    found = task_queries.my_tasks(db, current_user, today, calendar,
                                 0 if status else MINE_ROWS_PER_STATUS)  # fmt: skip
    page, groups = None, found.groups
    if status:
        page = task_queries.list_page(
            db, TaskFilters(status=status.value), current_user, today, calendar, page_number(),
            current_app.config["PAGE_SIZE"], total=found.by_status[status],
        )  # fmt: skip
        groups = {status: page.items}
    rows = [row for group in groups.values() for row in group]
    return render_template(
        "tasks/mine.html", groups=groups, page=page, labels=STATUS_LABELS,
        counts=found.by_status, light_counts=found.by_light,
        lights=task_queries.row_lights(rows, today, calendar),
    )  # fmt: skip


@bp.route("/")
@require(Permission.VIEW_ALL_TASKS)
def index():
    db = get_session()
    form = read_filters(request.args, _STATUS_CHOICES, _SORT_CHOICES)
    today, calendar = _today(), load_calendar(db)
    page = task_queries.list_page(db, form.filters, current_user, today, calendar, page_number(),
                                  current_app.config["PAGE_SIZE"])  # fmt: skip
    return render_template(
        "tasks/index.html", form=form, page=page,
        lights=task_queries.row_lights(page.items, today, calendar),
        bulk=blank_bulk_form() if can(Permission.MANAGE_TASKS) else None,
        offices=task_queries.office_choices(db),
    )  # fmt: skip


@bp.route("/export.xlsx")
@require(Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)
def export():
    db = get_session()
    filters = read_filters(request.args, _STATUS_CHOICES, _SORT_CHOICES).filters
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
    page = task_queries.task_page(db, task_id, current_user)
    if page is None:
        abort(404)
    task, today, calendar = page.task, _today(), load_calendar(db)
    report_due = None
    if task.recurrence:
        reports = [e.at for e in page.timeline if e.kind == "progress"]
        timezone = current_app.config["TIMEZONE"]
        report_due = lifecycle.next_report_due(
            task.recurrence, local_today(max(reports), timezone) if reports else None,
            local_today(task.created_at, timezone), calendar,
        )  # fmt: skip
    return render_template(
        "tasks/detail.html", task=task, page=page, report_due=report_due, today=today,
        actions=lifecycle.allowed_actions(workflow.actor_of(current_user), page.facts, today),
        light=lifecycle.light(task.status, task.deadline, today, calendar),
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
