"""The home page (which sends each role to its own start page), the about page and the health
check."""

from __future__ import annotations

from importlib import metadata

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
    """The database answers: a minimal page with one trivial query."""
    get_session().exec(text("SELECT 1")).one()
    return jsonify(status="ok", database="ok")
