"""The home page (which sends each role to its own start page), the about page and the health
check."""

from __future__ import annotations

from datetime import datetime
from importlib import metadata
from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.access import can
from app.clock import utcnow
from app.core.roles import Permission
from app.db import get_session
from app.scheduler import HEARTBEAT_FILE, TICK_MINUTES

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
        body = {"status": "error", "database": "unavailable", "scheduler": _scheduler_state()}
        return jsonify(body), 503
    return jsonify(status="ok", database="ok", scheduler=_scheduler_state())


def _scheduler_state() -> dict:
    """The heartbeat the scheduler writes at every tick: ok, stale (no tick for over two
    intervals) or missing (never ran with this instance folder)."""
    beat = Path(current_app.instance_path, HEARTBEAT_FILE)
    try:
        last = datetime.fromisoformat(beat.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return {"status": "missing", "last_tick": None}
    age = (utcnow() - last).total_seconds()
    status = "ok" if age <= 2 * TICK_MINUTES * 60 + 60 else "stale"
    return {"status": status, "last_tick": last.isoformat(), "age_seconds": int(age)}
