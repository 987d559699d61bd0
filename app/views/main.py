"""The home page (which sends each role to its own start page) and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import text

from app.access import can
from app.core.roles import Permission
from app.db import get_session

bp = Blueprint("main", __name__)

# The first permission the user holds decides the start page.
START_PAGES = [
    (Permission.VIEW_OWN_OFFICE_TASKS, "tasks.mine"),
    (Permission.VIEW_ALL_TASKS, "tasks.index"),
    (Permission.MANAGE_USERS, "admin.users"),
    (Permission.MANAGE_SECURITY, "admin.security"),
    (Permission.VIEW_AUDIT, "audit.index"),
]


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


@bp.route("/healthz")
def healthz():
    """The database answers: a minimal page with one trivial query."""
    get_session().exec(text("SELECT 1")).one()
    return jsonify(status="ok", database="ok")
