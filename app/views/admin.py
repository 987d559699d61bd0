"""管理: offices and user accounts (系统管理员), and the security page with unlocking
(安全管理员)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload
from sqlmodel import select

from app.access import (
    address_policy,
    lockout_policy,
    password_max_age_days,
    require,
    session_policy,
)
from app.clock import utcnow
from app.core.errors import DomainError
from app.core.roles import Permission, Role
from app.db import get_session
from app.forms import CsrfOnlyForm, OfficeForm, OfficeRuleForm, UserForm, options
from app.models import Office, OfficeRule, Unit, User
from app.services import login_throttle
from app.services import offices as office_service
from app.services import users as user_service
from app.views import client_ip, commit_or_explain

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/offices")
@require(Permission.MANAGE_USERS)
def offices():
    db = get_session()
    rows = office_service.list_offices(db)
    units = {u.id: u.name for u in db.exec(select(Unit))}
    return render_template("admin/offices.html", offices=rows, units=units)


@bp.route("/offices/new", methods=["GET", "POST"])
@bp.route("/offices/<int:office_id>/edit", methods=["GET", "POST"])
@require(Permission.MANAGE_USERS)
def office_form(office_id: int | None = None):
    db = get_session()
    office = (db.get(Office, office_id) or abort(404)) if office_id else None
    form = OfficeForm(obj=office)
    form.unit_id.choices = options((u.id, u.name) for u in db.exec(select(Unit).order_by(Unit.id)))
    members = office.users if office else []
    form.head_id.choices = options([(None, "（未指定）")] + [(u.id, u.name) for u in members])
    if form.validate_on_submit():
        saved = commit_or_explain(form, lambda: office_service.save_office(
            db, office=office, unit_id=form.unit_id.data, name=form.name.data,
            short_name=form.short_name.data, kind=form.kind.data, mailbox=form.mailbox.data,
            leader_name=form.leader_name.data, leader_email=form.leader_email.data,
            head_id=form.head_id.data, is_active=form.is_active.data,
            robots=office_service.RobotSettings(
                wecom_webhook=form.wecom_webhook.data, dingtalk_webhook=form.dingtalk_webhook.data,
                dingtalk_secret=form.dingtalk_secret.data,
                clear_dingtalk_secret=form.clear_dingtalk_secret.data,
            ),
            actor=current_user, ip=client_ip(),
        ))  # fmt: skip
        if saved is not None:
            flash(f"已保存科室“{saved.name}”。", "success")
            return redirect(url_for("admin.offices"))
    return render_template("admin/office_form.html", form=form, office=office)


@bp.route("/rules", methods=["GET", "POST"])
@require(Permission.MANAGE_USERS)
def rules():
    db = get_session()
    form = OfficeRuleForm()
    offices = office_service.list_offices(db)
    form.office_id.choices = options((o.id, o.name) for o in offices)
    if form.validate_on_submit():
        rule = commit_or_explain(form, lambda: office_service.save_rule(
            db, office_id=form.office_id.data, keyword=form.keyword.data,
            position=form.position.data, actor=current_user, ip=client_ip(),
        ))  # fmt: skip
        if rule is not None:
            flash(f"已添加关键词“{form.keyword.data.strip()}”。", "success")
            return redirect(url_for("admin.rules"))
    rows = db.exec(
        select(OfficeRule, Office.name)
        .join(Office, Office.id == OfficeRule.office_id)
        .order_by(OfficeRule.position, OfficeRule.keyword)
    ).all()
    return render_template("admin/rules.html", form=form, rows=rows, action_form=CsrfOnlyForm())


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@require(Permission.MANAGE_USERS)
def rule_delete(rule_id: int):
    db = get_session()
    rule = db.get(OfficeRule, rule_id) or abort(404)
    if CsrfOnlyForm().validate_on_submit():
        office_service.delete_rule(db, rule=rule, actor=current_user, ip=client_ip())
        db.commit()
        flash(f"已删除关键词“{rule.keyword}”。", "success")
    return redirect(url_for("admin.rules"))


@bp.route("/rules/defaults", methods=["POST"])
@require(Permission.MANAGE_USERS)
def rule_defaults():
    db = get_session()
    if CsrfOnlyForm().validate_on_submit():
        added = sum(
            office_service.install_default_rules(db, unit_id=unit.id, actor=current_user)
            for unit in db.exec(select(Unit))
        )
        db.commit()
        flash(f"已补充默认规则 {added} 条。" if added else "默认规则均已存在。", "success")
    return redirect(url_for("admin.rules"))


@bp.route("/users")
@require(Permission.MANAGE_USERS, Permission.MANAGE_SECURITY)
def users():
    """The accounts: the system administrator edits them, the security administrator sees
    which are locked and unlocks them."""
    rows = (
        get_session()
        .exec(
            select(User)
            .options(selectinload(User.office), selectinload(User.role_rows))
            .order_by(User.login)
        )
        .all()
    )
    now = utcnow()
    locked = {u.id for u in rows if user_service.is_account_locked(u, now)}
    return render_template(
        "admin/users.html", users=rows, locked=locked, action_form=CsrfOnlyForm(formdata=None)
    )


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@require(Permission.MANAGE_SECURITY)
def user_unlock(user_id: int):
    db = get_session()
    user = db.get(User, user_id) or abort(404)
    if CsrfOnlyForm().validate_on_submit():
        done = commit_or_explain(None, lambda: user_service.unlock_user(
            db, user=user, actor=current_user, now=utcnow(), ip=client_ip(),
        ))  # fmt: skip
        if done is not None:
            flash(f"已解除账号“{user.login}”的锁定。", "success")
    return redirect(_back_to_security_page())


@bp.route("/security")
@require(Permission.MANAGE_SECURITY)
def security():
    """安全策略: the effective password, lockout and session settings (read-only: they come
    from the configuration), and what is locked now."""
    db = get_session()
    now = utcnow()
    locked_users = [
        u for u in db.exec(select(User).where(User.locked_until.is_not(None)).order_by(User.login))
        if user_service.is_account_locked(u, now)
    ]  # fmt: skip
    failing_users = db.exec(select(User).where(User.failed_logins > 0).order_by(User.login)).all()
    return render_template(
        "admin/security.html",
        lockout=lockout_policy(),
        address=address_policy(),
        sessions=session_policy(),
        max_age_days=password_max_age_days(),
        cookie_secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        cookie_samesite=current_app.config.get("SESSION_COOKIE_SAMESITE") or "—",
        locked_users=locked_users,
        failing_users=[u for u in failing_users if u not in locked_users],
        locked_addresses=login_throttle.locked_addresses(db, now),
        action_form=CsrfOnlyForm(formdata=None),
    )


@bp.route("/security/address/unlock", methods=["POST"])
@require(Permission.MANAGE_SECURITY)
def address_unlock():
    db = get_session()
    address = (request.form.get("address") or "").strip()[:45]
    if CsrfOnlyForm().validate_on_submit():
        if login_throttle.unlock_address(
            db, address=address, actor=current_user, ip=client_ip(), now=utcnow()
        ):
            db.commit()
            flash(f"已解除地址 {address} 的登录限制。", "success")
        else:
            flash("该地址当前未被限制登录。", "info")
    return redirect(url_for("admin.security"))


def _back_to_security_page() -> str:
    """Where an unlock returns: the page it was pressed on (the user list or the security
    page)."""
    return url_for("admin.users" if request.form.get("back") == "users" else "admin.security")


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@require(Permission.MANAGE_USERS)
def user_form(user_id: int | None = None):
    db = get_session()
    user = (db.get(User, user_id) or abort(404)) if user_id else None
    form = UserForm(obj=user)
    offices = office_service.list_offices(db)
    form.office_id.choices = options([(None, "（无）")] + [(o.id, o.name) for o in offices])
    if user is not None and not form.is_submitted():
        form.roles.data = sorted(user.roles)
    if form.validate_on_submit():
        saved = commit_or_explain(form, lambda: _save_user(user, form))
        if saved is not None:
            flash(f"已保存用户“{saved.login}”。", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user)


def _save_user(user: User | None, form: UserForm) -> User:
    db = get_session()
    roles = [Role(r) for r in form.roles.data or []]
    if user is None:
        if not form.password.data:
            raise DomainError("新建用户必须设置初始密码。", "password")
        return user_service.create_user(
            db, login=form.login.data, name=form.name.data, password=form.password.data,
            roles=roles, office_id=form.office_id.data, email=form.email.data,
            must_change_password=True, actor=current_user, ip=client_ip(), now=utcnow(),
        )  # fmt: skip
    user_service.update_user(
        db, user=user, name=form.name.data, email=form.email.data,
        office_id=form.office_id.data, roles=roles, is_active=form.is_active.data,
        actor=current_user, ip=client_ip(),
    )  # fmt: skip
    if form.password.data:
        user_service.set_password(
            db, user=user, password=form.password.data, actor=current_user, now=utcnow(),
            must_change=True, ip=client_ip(),
        )  # fmt: skip
    return user
