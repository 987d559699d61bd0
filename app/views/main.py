"""The home page (which sends each role to its own start page), the about page and the health
check."""

from __future__ import annotations

from importlib import metadata

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.access import can
from app.clock import utcnow
from app.core.roles import Permission
from app.db import get_session
from app.scheduler import tick_seconds
from app.services import scheduler_nodes

bp = Blueprint("main", __name__)

# The first permission the user holds decides the start page.
START_PAGES = [
    (Permission.VIEW_OWN_OFFICE_TASKS, "tasks.mine"),
    (Permission.VIEW_ALL_TASKS, "tasks.index"),
    (Permission.MANAGE_USERS, "admin.users"),
    (Permission.MANAGE_SECURITY, "admin.security"),
    (Permission.VIEW_AUDIT, "audit.index"),
]


def _version() -> str:
    """The installed package's version ("" when the package is not installed)."""
    try:
        return metadata.version("luoshi")
    except metadata.PackageNotFoundError:
        return ""


VERSION = _version()  # read once: it cannot change while the process runs


@bp.route("/")
@login_required
def index():
    for permission, endpoint in START_PAGES:
        if can(permission):
            return redirect(url_for(endpoint))
    return redirect(url_for("main.no_role"))


@bp.route("/no-role")
@login_required
def no_role():
    return render_template("main/no_role.html")


@bp.route("/about")
@login_required
def about():
    """关于本系统: the smallest page a signed-in user gets (the layout, the user, the session;
    no business data), which the task pages' benchmark takes as its baseline."""
    return render_template("main/about.html", version=VERSION)


@bp.route("/healthz")
def healthz():
    """The database and the scheduler, for the load balancer and the operator: 200 when the
    database answers, 503 (and what is wrong) when it does not. The scheduler's last tick is
    reported, not required: a web process must stay in service while the scheduler restarts."""
    try:
        get_session().exec(text("SELECT 1")).one()
    except SQLAlchemyError:
        get_session().rollback()
        body = {"status": "error", "database": "unavailable",
                "scheduler": {"status": "unknown", "last_tick": None}}  # fmt: skip
        return jsonify(body), 503
    return jsonify(status="ok", database="ok", scheduler=_scheduler_state())


def _scheduler_state() -> dict:
    """The installation's scheduler as its processes last reported (scheduler_node): the
    leader's last tick, ok or stale, or missing when none ever ticked."""
    try:
        return scheduler_nodes.state(get_session(), utcnow(), tick_seconds(current_app))
    except SQLAlchemyError:
        get_session().rollback()
        return {"status": "unknown", "last_tick": None}
