"""Sign in, sign out, 我的账号 (change the password, sign out everywhere)."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.access import (
    address_policy,
    end_session,
    lockout_policy,
    password_change_needed,
    password_max_age_days,
    renew_session,
    session_policy,
    start_session,
)
from app.clock import utcnow
from app.core.security import safe_next_path
from app.db import get_session
from app.forms import CsrfOnlyForm, LoginForm, PasswordChangeForm
from app.services import audit
from app.services import users as user_service
from app.views import client_ip, commit_or_explain

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
            policy=user_service.LoginPolicy(lockout_policy(), address_policy()),
            timezone=current_app.config["TIMEZONE"],
            ip=client_ip(),
        )
        db.commit()
        if result.user is not None:
            start_session(result.user)
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
    end_session()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """我的账号: the account's facts, the password change (forced when due) and 退出全部登录."""
    db = get_session()
    user = current_user._get_current_object()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        now = utcnow()
        check = user_service.verify_current_password(
            db, user=user, password=form.current_password.data, policy=lockout_policy(),
            now=now, ip=client_ip(),
        )  # fmt: skip
        db.commit()
        if check.locked:
            end_session()
            flash("当前密码连续输入错误，账号已锁定，请稍后重新登录或联系安全管理员。", "error")
            return redirect(url_for("auth.login"))
        if not check.ok:
            form.current_password.errors = [*form.current_password.errors, "当前密码不正确。"]
        elif commit_or_explain(form, lambda: user_service.change_own_password(
            db, user=user, new_password=form.new_password.data, now=now, ip=client_ip(),
        )) is not None:  # fmt: skip
            renew_session(user)
            flash("密码已修改。其他设备上的登录已全部退出。", "success")
            return redirect(url_for("main.index"))
    return render_template(
        "auth/password.html",
        form=form,
        user=user,
        reason=password_change_needed(user, utcnow()),
        max_age_days=password_max_age_days(),
        session_policy=session_policy(),
        logout_all_form=CsrfOnlyForm(formdata=None),
    )


@bp.route("/password/logout-all", methods=["POST"])
@login_required
def logout_all():
    """退出全部登录: every session of this account ends, this one included."""
    if not CsrfOnlyForm().validate_on_submit():
        return redirect(url_for("auth.password"))
    db = get_session()
    user = current_user._get_current_object()
    user_service.end_all_sessions(db, user=user, actor=user, ip=client_ip())
    db.commit()
    end_session()
    flash("已退出本账号在所有设备上的登录，请重新登录。", "info")
    return redirect(url_for("auth.login"))
