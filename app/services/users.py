"""Accounts: creating, changing and signing in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.errors import DomainError
from app.core.roles import Role, role_problems
from app.core.security import LoginThrottle, after_failed_login, is_locked, password_problems
from app.core.timefmt import format_datetime_cn
from app.models import Office, User, UserRole
from app.services import audit

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
USER_AUDIT_FIELDS = ["login", "name", "email", "office_id", "is_active", "roles"]
BAD_CREDENTIALS = "用户名或密码错误。"
HASH_METHOD = "scrypt"
# Checked against when the login is unknown, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("luoshi-dummy-password")


def hash_password(password: str) -> str:
    """A salted scrypt hash of PASSWORD."""
    return generate_password_hash(password, method=HASH_METHOD)


def find_by_login(session: Session, login: str) -> User | None:
    """The account named LOGIN (case-insensitive), if any."""
    return session.exec(select(User).where(User.login == login.strip().lower())).first()


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
    problems = password_problems(password)
    if problems:
        raise DomainError(problems[0], "password")
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
    """Replace USER's password; every open session of USER ends."""
    problems = password_problems(password)
    if problems:
        raise DomainError(problems[0], "password")
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = must_change
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    audit.record(
        session, actor=actor, action="user.password", object_type="user", object_id=user.id, ip=ip
    )


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
    throttle: LoginThrottle,
    timezone: str,
    ip: str | None = None,
) -> LoginResult:
    """Check a login attempt and record it; the caller commits in every case."""
    user = find_by_login(session, login)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        audit.record(
            session, actor=None, actor_login=login[:64], action="login.unknown_user", ip=ip
        )
        return LoginResult(None, BAD_CREDENTIALS)
    if is_locked(user.locked_until, now):
        audit.record(session, actor=user, action="login.locked", object_type="user",
                     object_id=user.id, ip=ip)  # fmt: skip
        until = format_datetime_cn(user.locked_until, timezone)
        return LoginResult(None, f"登录失败次数过多，账号已锁定至{until}，请稍后再试或联系管理员。")
    if not check_password_hash(user.password_hash, password):
        return _record_failure(session, user, now, throttle, ip)
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


def _record_failure(
    session: Session, user: User, now: datetime, throttle: LoginThrottle, ip: str | None
) -> LoginResult:
    state = after_failed_login(user.failed_logins, throttle, now)
    user.failed_logins = state.failed_logins
    user.locked_until = state.locked_until
    session.add(user)
    action = "login.lockout" if state.locked_until else "login.failed"
    audit.record(session, actor=user, action=action, object_type="user", object_id=user.id, ip=ip)
    if state.locked_until:
        return LoginResult(
            None, f"密码连续错误{throttle.max_failures}次，账号已锁定{throttle.lock_minutes}分钟。"
        )
    return LoginResult(None, BAD_CREDENTIALS)
