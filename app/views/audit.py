"""审计: the audit trail, read-only, for auditors."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from sqlmodel import select

from app.access import require
from app.core.roles import Permission
from app.db import get_session
from app.forms import AuditFilterForm
from app.models import AuditEvent
from app.pagination import paginate
from app.views import page_number

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _local_midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))


@bp.route("/")
@require(Permission.VIEW_AUDIT)
def index():
    form = AuditFilterForm(formdata=request.args)
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if form.validate():
        if form.action.data:
            family = form.action.data
            matches = AuditEvent.action.startswith(family)
            if family == "login":
                matches = matches | (AuditEvent.action == "logout")
            query = query.where(matches)
        if form.actor.data:
            query = query.where(AuditEvent.actor_login == form.actor.data.strip().lower())
        if form.date_from.data:
            query = query.where(AuditEvent.at >= _local_midnight(form.date_from.data))
        if form.date_to.data:
            end = _local_midnight(form.date_to.data + timedelta(days=1))
            query = query.where(AuditEvent.at < end)
    page = paginate(get_session(), query, page_number(), current_app.config["PAGE_SIZE"])
    return render_template("audit/index.html", form=form, page=page)
