"""Sign in and sign out."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from app.clock import utcnow
from app.core.security import LoginThrottle, safe_next_path
from app.db import get_session
from app.forms import LoginForm
from app.services import audit
from app.services import users as user_service
from app.views import client_ip

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        db = get_session()
        result = user_service.authenticate(
            db,
            login=form.login.data,
            password=form.password.data,
            now=utcnow(),
            throttle=LoginThrottle(
                current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCK_MINUTES"]
            ),
            timezone=current_app.config["TIMEZONE"],
            ip=client_ip(),
        )
        db.commit()
        if result.user is not None:
            session.clear()  # a fresh session at sign-in: no fixation
            login_user(result.user)
            flash(f"欢迎，{result.user.name}。", "success")
            return redirect(safe_next_path(form.next.data) or url_for("main.index"))
        flash(result.message, "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    db = get_session()
    audit.record(
        db, actor=current_user, action="logout", object_type="user",
        object_id=current_user.id, ip=client_ip(),
    )  # fmt: skip
    db.commit()
    logout_user()
    session.clear()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))
