"""通知记录: the outbox for admins and coordinators; admins may resend."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from app.access import can, require, visible_tasks_filter
from app.clock import utcnow
from app.core.glossary import NOTIFY_CHANNEL_LABELS, NOTIFY_KIND_LABELS, OUTBOX_STATUS_LABELS
from app.core.roles import Permission
from app.core.security import safe_next_path
from app.db import get_session
from app.forms import CsrfOnlyForm
from app.models import Office, Outbox, Task
from app.notify.backends import mail_domain
from app.services import notifications as service
from app.services.reminders import FAILED
from app.views import client_ip, commit_or_explain, page_number

bp = Blueprint("notifications", __name__, url_prefix="/admin/notifications")

_ID_MAX = 2**31 - 1  # larger ids exist nowhere, and SQLite cannot even bind some of them


def _labels() -> dict[str, dict[str, str]]:
    return {"status": OUTBOX_STATUS_LABELS, "channel": NOTIFY_CHANNEL_LABELS,
            "kind": NOTIFY_KIND_LABELS}  # fmt: skip


def _back(default: str) -> str:
    return safe_next_path(request.form.get("back")) or default


@bp.route("")
@require(Permission.VIEW_NOTIFICATIONS)
def index():
    filters, errors = service.parse_filters(request.args)
    result = service.list_page(
        get_session(), filters, number=page_number(), size=current_app.config["PAGE_SIZE"],
        timezone=current_app.config["TIMEZONE"],
    )  # fmt: skip
    manage = can(Permission.MANAGE_NOTIFICATIONS)
    return render_template(
        "notifications/index.html", page=result.page, counts=result.counts, filters=filters,
        errors=errors, labels=_labels(), manage=manage,
    )  # fmt: skip


@bp.route("/<int:outbox_id>")
@require(Permission.VIEW_NOTIFICATIONS)
def detail(outbox_id: int):
    db = get_session()
    row = (db.get(Outbox, outbox_id) if outbox_id <= _ID_MAX else None) or abort(404)
    config = current_app.config
    message = service.describe(
        row, sender=config["MAIL_FROM"], domain=mail_domain(config), now=utcnow(),
        timezone=config["TIMEZONE"],
    )  # fmt: skip
    task = None
    if row.task_id:
        task = db.exec(
            select(Task.id, Task.title).where(Task.id == row.task_id,
                                              visible_tasks_filter(current_user))
        ).first()  # fmt: skip
    office = db.get(Office, row.office_id) if row.office_id else None
    manage = can(Permission.MANAGE_NOTIFICATIONS)
    return render_template(
        "notifications/detail.html", row=row, message=message, task=task, office=office,
        labels=_labels(), manage=manage, resendable=row.status in service.RESENDABLE,
    )  # fmt: skip


@bp.route("/<int:outbox_id>/resend", methods=["POST"])
@require(Permission.MANAGE_NOTIFICATIONS)
def resend(outbox_id: int):
    db = get_session()
    row = (db.get(Outbox, outbox_id) if outbox_id <= _ID_MAX else None) or abort(404)
    back = redirect(_back(url_for("notifications.detail", outbox_id=row.id)))
    if not CsrfOnlyForm().validate_on_submit():
        flash("表单已失效，请刷新页面后重试。", "error")
        return back
    done = commit_or_explain(None, lambda: service.resend_one(
        db, row.id, actor=current_user, ip=client_ip(), now=utcnow(),
    ))  # fmt: skip
    if done is not None:
        flash(f"已将通知 {row.id} 重新排入发送队列，稍后由发送任务送出。", "success")
    return back


@bp.route("/resend", methods=["POST"])
@require(Permission.MANAGE_NOTIFICATIONS)
def resend_bulk():
    """重发所选 (the ticked failed rows) or 重发全部失败 (every failed row under the filter)."""
    db = get_session()
    filters, _ = service.parse_filters(request.form)
    back = redirect(url_for("notifications.index", **filters.as_args()))
    if not CsrfOnlyForm().validate_on_submit():
        flash("表单已失效，请刷新页面后重试。", "error")
        return back
    timezone = current_app.config["TIMEZONE"]
    if request.form.get("scope") == "all_failed":
        ids = service.failed_ids(db, filters, timezone=timezone, limit=service.BULK_LIMIT + 1)
        more = len(ids) > service.BULK_LIMIT
        ids = ids[: service.BULK_LIMIT]
        if not ids:
            flash("当前筛选条件下没有发送失败的通知。", "info")
            return back
    else:
        ids = [i for i in request.form.getlist("ids", type=int) if 0 < i <= _ID_MAX]
        more = False
        if not ids:
            flash("请先勾选要重发的通知。", "error")
            return back
    result = service.resend(db, ids, actor=current_user, ip=client_ip(), now=utcnow(),
                            allowed=[FAILED])  # fmt: skip
    db.commit()
    if result.resent:
        flash(f"已将 {len(result.resent)} 条通知重新排入发送队列。", "success")
    for outbox_id, why in result.refused[:10]:
        flash(f"通知 {outbox_id} 未重发：{why}", "error")
    if len(result.refused) > 10:
        flash(f"另有 {len(result.refused) - 10} 条未重发。", "error")
    if more:
        flash(f"每次最多重发 {service.BULK_LIMIT} 条，还有更多发送失败的通知，请再次操作。", "info")
    return back
