"""Accounts: creating, changing and signing in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.errors import DomainError
from app.core.roles import ADMIN_ROLES, Role, role_problems
from app.core.security import (
    AddressPolicy,
    LockoutPolicy,
    after_failed_login,
    is_locked,
    password_problems,
)
from app.core.timefmt import format_datetime_cn
from app.models import Office, User, UserRole
from app.services import audit, login_throttle

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
USER_AUDIT_FIELDS = ["login", "name", "email", "office_id", "is_active", "roles"]
BAD_CREDENTIALS = "用户名或密码错误。"
HASH_METHOD = "scrypt"
# Checked against when the login is unknown, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("luoshi-dummy-password")


def hash_password(password: str) -> str:
    """A salted scrypt hash of PASSWORD."""
    return generate_password_hash(password, method=HASH_METHOD)


def find_by_login(session: Session, login: str, *, for_update: bool = False) -> User | None:
    """The account named LOGIN (case-insensitive), if any; FOR_UPDATE locks its row for the
    transaction (so that concurrent failed logins are each counted)."""
    query = select(User).where(User.login == login.strip().lower())
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def _check_password(password: str, login: str, field: str = "password") -> None:
    problems = password_problems(password, login)
    if problems:
        raise DomainError(problems[0], field)


def _check_office(session: Session, office_id: int | None) -> None:
    if office_id is not None and session.get(Office, office_id) is None:
        raise DomainError("所选科室不存在。", "office_id")


def _check_roles(roles: frozenset[Role], office_id: int | None) -> None:
    problems = role_problems(roles, office_id is not None)
    if problems:
        raise DomainError(problems[0], "roles")


def create_user(
    session: Session,
    *,
    login: str,
    name: str,
    password: str,
    roles: Iterable[Role],
    office_id: int | None = None,
    email: str | None = None,
    must_change_password: bool = False,
    actor: User | None = None,
    ip: str | None = None,
    now: datetime,
) -> User:
    """A new active account; DomainError when a rule is broken."""
    login = login.strip().lower()
    roles = frozenset(roles)
    if not LOGIN_PATTERN.match(login):
        raise DomainError("用户名只能包含字母、数字、点、下划线和连字符，长度2至64位。", "login")
    if find_by_login(session, login) is not None:
        raise DomainError(f"用户名“{login}”已被使用。", "login")
    _check_password(password, login)
    _check_office(session, office_id)
    _check_roles(roles, office_id)
    user = User(
        login=login,
        name=name.strip(),
        email=(email or "").strip() or None,
        office_id=office_id,
        password_hash=hash_password(password),
        password_changed_at=now,
        must_change_password=must_change_password,
        role_rows=[UserRole(role=r.value) for r in sorted(roles)],
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after=audit.snapshot(user, USER_AUDIT_FIELDS),
        ip=ip,
    )
    return user


def update_user(
    session: Session,
    *,
    user: User,
    name: str,
    email: str | None,
    office_id: int | None,
    roles: Iterable[Role],
    is_active: bool,
    actor: User | None,
    ip: str | None = None,
) -> User:
    """Change an account's details; deactivating it ends its open sessions at once."""
    roles = frozenset(roles)
    _check_office(session, office_id)
    _check_roles(roles, office_id)
    if actor is not None and actor.id == user.id and not is_active:
        raise DomainError("不能停用自己的账号。", "is_active")
    before = audit.snapshot(user, USER_AUDIT_FIELDS)
    user.name = name.strip()
    user.email = (email or "").strip() or None
    user.office_id = office_id
    if roles != user.roles:
        user.role_rows = [UserRole(role=r.value) for r in sorted(roles)]
    if user.is_active and not is_active:
        user.session_version += 1
    user.is_active = is_active
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        before=before,
        after=audit.snapshot(user, USER_AUDIT_FIELDS),
        ip=ip,
    )
    return user


def set_password(
    session: Session,
    *,
    user: User,
    password: str,
    actor: User | None,
    now: datetime,
    must_change: bool = False,
    ip: str | None = None,
) -> None:
    """An administrator's reset of USER's password; every open session of USER ends.

    三员分立: the system admin may not reset the password of an administrator's account (system,
    security or audit admin) other than their own, or they could sign in as the security or
    audit admin. Such a reset is done on the server (`flask users reset-password`, ACTOR None)."""
    if actor is not None and actor.id != user.id and user.roles & set(ADMIN_ROLES):
        raise DomainError(
            "不能在此重置管理员账号（系统管理员、安全管理员、审计管理员）的密码：请本人在"
            "“修改密码”中修改，或由运维人员在服务器上执行 flask users reset-password。",
            "password",
        )
    _check_password(password, user.login)
    _replace_password(user, password, now, must_change=must_change)
    session.add(user)
    audit.record(
        session, actor=actor, action="user.password", object_type="user", object_id=user.id, ip=ip
    )


def _replace_password(user: User, password: str, now: datetime, *, must_change: bool) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = must_change
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    # The wrong password locked the account (and so ended its sessions).
    locked: bool = False


def verify_current_password(
    session: Session,
    *,
    user: User,
    password: str,
    policy: LockoutPolicy,
    now: datetime,
    ip: str | None = None,
) -> PasswordCheck:
    """Check the current password typed on the change-password form. A wrong one counts as a
    failed login, so a session left open does not let anyone guess the password: the Nth
    locks the account and ends its sessions. The caller commits either way."""
    if check_password_hash(user.password_hash, password):
        return PasswordCheck(True)
    state = after_failed_login(user.failed_logins, policy, now)
    user.failed_logins = state.failed_logins
    user.locked_until = state.locked_until
    if state.locked_until:
        user.session_version += 1
    session.add(user)
    audit.record(session, actor=user, action="password.change_failed", object_type="user",
                 object_id=user.id, ip=ip)  # fmt: skip
    if state.locked_until:
        audit.record(session, actor=user, action="login.lockout", object_type="user",
                     object_id=user.id, ip=ip)  # fmt: skip
    return PasswordCheck(False, locked=state.locked_until is not None)


def change_own_password(
    session: Session, *, user: User, new_password: str, now: datetime, ip: str | None = None
) -> User:
    """USER replaces their own password (the current one already checked): the policy applies,
    the new one must differ, and every other open session of USER ends (the caller signs the
    current one in again with the new session version)."""
    _check_password(new_password, user.login, "new_password")
    if check_password_hash(user.password_hash, new_password):
        raise DomainError("新密码不能与当前密码相同。", "new_password")
    _replace_password(user, new_password, now, must_change=False)
    session.add(user)
    audit.record(session, actor=user, action="password.change", object_type="user",
                 object_id=user.id, ip=ip)  # fmt: skip
    return user


def end_all_sessions(session: Session, *, user: User, actor: User, ip: str | None = None) -> None:
    """退出全部登录: every open session of USER ends at once, wherever it was opened."""
    user.session_version += 1
    session.add(user)
    audit.record(session, actor=actor, action="session.revoke_all", object_type="user",
                 object_id=user.id, ip=ip)  # fmt: skip


def is_account_locked(user: User, now: datetime) -> bool:
    """Whether USER is locked out at NOW."""
    return is_locked(user.locked_until, now)


def unlock_user(
    session: Session, *, user: User, actor: User | None, now: datetime, ip: str | None = None
) -> User:
    """解除锁定: forget USER's failed logins and lift the lock; DomainError when there is
    nothing to unlock."""
    if not is_locked(user.locked_until, now) and not user.failed_logins:
        raise DomainError(f"账号“{user.login}”未被锁定。")
    before = {
        "failed_logins": user.failed_logins,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
    }
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    audit.record(
        session, actor=actor, action="user.unlock", object_type="user", object_id=user.id,
        before=before, after={"failed_logins": 0, "locked_until": None}, ip=ip,
    )  # fmt: skip
    return user


@dataclass(frozen=True)
class LoginPolicy:
    account: LockoutPolicy
    address: AddressPolicy


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str | None


def authenticate(
    session: Session,
    *,
    login: str,
    password: str,
    now: datetime,
    policy: LoginPolicy,
    timezone: str,
    ip: str | None = None,
) -> LoginResult:
    """Check a login attempt and record it; the caller commits in every case.

    A locked source address is refused before anything else. Every attempt whose credentials
    were not verified (unknown name, wrong password, locked account) counts against both the
    account and the address.
    """
    if ip and policy.address.enabled:
        until = login_throttle.locked_until(session, ip, now)
        if until is not None:
            audit.record(session, actor=None, actor_login=login[:64], action="login.ip_locked",
                         ip=ip)  # fmt: skip
            return LoginResult(None, _address_locked_message(until, timezone))
    user = find_by_login(session, login, for_update=True)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        audit.record(
            session, actor=None, actor_login=login[:64], action="login.unknown_user", ip=ip
        )
        return _address_failure(session, login, ip, now, policy, timezone) or LoginResult(
            None, BAD_CREDENTIALS
        )
    if is_locked(user.locked_until, now):
        audit.record(session, actor=user, action="login.locked", object_type="user",
                     object_id=user.id, ip=ip)  # fmt: skip
        until = format_datetime_cn(user.locked_until, timezone)
        return _address_failure(session, login, ip, now, policy, timezone) or LoginResult(
            None, f"登录失败次数过多，账号已锁定至{until}，请稍后再试或联系安全管理员。"
        )
    if not check_password_hash(user.password_hash, password):
        result = _record_failure(session, user, now, policy.account, ip)
        return _address_failure(session, login, ip, now, policy, timezone) or result
    if not user.is_active:
        audit.record(session, actor=user, action="login.inactive", object_type="user",
                     object_id=user.id, ip=ip)  # fmt: skip
        return LoginResult(None, "该账号已停用，请联系管理员。")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    audit.record(session, actor=user, action="login", object_type="user", object_id=user.id, ip=ip)
    return LoginResult(user, None)


def _address_locked_message(until: datetime, timezone: str) -> str:
    return (
        f"本机地址登录失败次数过多，已暂停登录至{format_datetime_cn(until, timezone)}，"
        "请稍后再试或联系安全管理员。"
    )


def _address_failure(
    session: Session,
    login: str,
    ip: str | None,
    now: datetime,
    policy: LoginPolicy,
    timezone: str,
) -> LoginResult | None:
    """Count a failure against IP; the result to show when it has just locked the address."""
    if not ip or not login_throttle.record_failure(session, ip, policy.address, now):
        return None
    audit.record(session, actor=None, actor_login=login[:64], action="login.ip_lockout",
                 object_type="login_address", after={"address": ip}, ip=ip)  # fmt: skip
    until = login_throttle.locked_until(session, ip, now)
    return LoginResult(None, _address_locked_message(until, timezone))


def _record_failure(
    session: Session, user: User, now: datetime, policy: LockoutPolicy, ip: str | None
) -> LoginResult:
    state = after_failed_login(user.failed_logins, policy, now)
    user.failed_logins = state.failed_logins
    user.locked_until = state.locked_until
    session.add(user)
    action = "login.lockout" if state.locked_until else "login.failed"
    audit.record(session, actor=user, action=action, object_type="user", object_id=user.id, ip=ip)
    if state.locked_until:
        return LoginResult(
            None, f"密码连续错误{policy.max_failures}次，账号已锁定{policy.lock_minutes}分钟。"
        )
    return LoginResult(None, BAD_CREDENTIALS)
