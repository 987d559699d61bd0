"""Who is signed in, and what they may see: the one place where roles are checked, and where
the session rules of 等保2.0 level 2 are applied to every request (app/core/security.py):

- a session ends after SESSION_IDLE_MINUTES without a request and SESSION_ABSOLUTE_HOURS after
  sign-in; the times are kept in the signed session cookie;
- the session is rotated at sign-in (start_session): nothing from before survives;
- server-side revocation: the cookie names the user's session version (User.get_id), so bumping
  it (logout everywhere, password change, deactivation) ends every open session at once;
- an account that must change its password reaches only the change-password page;
- a signed-in user refused a page (403) is recorded in the audit trail (access.denied).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlmodel import select

from app.clock import utcnow
from app.core.roles import Permission, Role, has_permission
from app.core.security import (
    AddressPolicy,
    LockoutPolicy,
    SessionPolicy,
    password_change_reason,
    session_end,
)
from app.db import get_engine, get_session, session_scope
from app.extensions import login_manager
from app.models import Task, User
from app.services import audit
from app.services.task_queries import scope
from app.views import client_ip

F = TypeVar("F", bound=Callable[..., Any])

# Keys of the session cookie (Flask-Login's own are _user_id, _fresh, _id).
SIGNED_IN_AT = "signed_in_at"  # epoch seconds of the sign-in
LAST_SEEN = "last_seen"  # epoch seconds of the last request
SESSION_NONCE = "sid"  # random per sign-in: a new cookie value even for the same user and second

# Last-seen is rewritten at most this often: the idle timeout is kept to the minute, and most
# responses need no new cookie.
LAST_SEEN_RESOLUTION_SECONDS = 60
TIMEOUT_MESSAGE = "登录已超时，请重新登录。"
# What an account that must change its password may still reach.
PASSWORD_CHANGE_ENDPOINTS = frozenset(
    {"auth.password", "auth.logout", "auth.logout_all", "static", "main.healthz"}
)


def init_app(app: Flask) -> None:
    """Configure Flask-Login and the session rules for this app."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        app.config["SESSION_COOKIE_SECURE"] = str(app.config["BASE_URL"]).startswith("https://")
    app.before_request(enforce_session_rules)
    app.context_processor(lambda: {"can": can, "Permission": Permission, "Role": Role})


def load_user(user_id: str) -> User | None:
    """The user of a session cookie, or None when the account or its session version changed."""
    try:
        raw_id, raw_version = user_id.split(":")
        uid, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    user = get_session().get(User, uid)
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user


# -- settings -------------------------------------------------------------------------------


def lockout_policy() -> LockoutPolicy:
    """The lockout per account of the current app's configuration."""
    config = current_app.config
    return LockoutPolicy(int(config["LOCKOUT_FAILURES"]), int(config["LOCKOUT_MINUTES"]))


def address_policy() -> AddressPolicy:
    """The lockout per source address of the current app's configuration."""
    config = current_app.config
    return AddressPolicy(
        int(config["LOCKOUT_ADDRESS_FAILURES"]),
        int(config["LOCKOUT_ADDRESS_WINDOW_MINUTES"]),
        int(config["LOCKOUT_ADDRESS_MINUTES"]),
    )


def session_policy() -> SessionPolicy:
    """The session lifetimes of the current app's configuration."""
    config = current_app.config
    return SessionPolicy(int(config["SESSION_IDLE_MINUTES"]), int(config["SESSION_ABSOLUTE_HOURS"]))


def password_max_age_days() -> int:
    """After how many days a password must be changed (0: never)."""
    return int(current_app.config["PASSWORD_MAX_AGE_DAYS"])


def password_change_needed(user: User, now: datetime) -> str | None:
    """Why USER must change their password before anything else (None: no need)."""
    return password_change_reason(
        must_change=user.must_change_password,
        changed_at=user.password_changed_at,
        now=now,
        max_age_days=password_max_age_days(),
    )


# -- sessions -------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _session_time(key: str) -> datetime | None:
    value = session.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value, UTC)


def start_session(user: User) -> None:
    """Sign USER in on a fresh session: nothing of the session before sign-in survives (no
    fixation, a new CSRF token), and the cookie's value is new. No remember-me cookie."""
    now = _epoch(utcnow())
    session.clear()
    login_user(user, remember=False)
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN] = now
    session[SESSION_NONCE] = secrets.token_urlsafe(16)


def renew_session(user: User) -> None:
    """Carry the current session over to USER's new session version (after their own password
    change ended all the others): rotated like a sign-in, but the absolute limit still counts
    from the original sign-in."""
    signed_in_at = session.get(SIGNED_IN_AT)
    start_session(user)
    if isinstance(signed_in_at, int):
        session[SIGNED_IN_AT] = signed_in_at


def end_session() -> None:
    """Sign out of this session and forget everything in it."""
    logout_user()
    session.clear()


def record_now(action: str, actor: User | None, **fields: Any) -> None:
    """Write one audit event in its own transaction, for a request that is about to be refused
    or ended: the request's own transaction is rolled back first (it has nothing to keep, and
    on SQLite it may hold the write lock the audit needs)."""
    actor_id = actor.id if actor is not None else None
    get_session().rollback()
    with session_scope(get_engine()) as db:
        row = db.get(User, actor_id) if actor_id is not None else None
        audit.record(db, actor=row, action=action, ip=client_ip(), **fields)


def _next_target() -> str | None:
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?")


def enforce_session_rules() -> Any:
    """Before every request: end expired sessions, keep live ones alive, and hold an account
    that must change its password on the change-password page."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = utcnow()
    ended = session_end(
        signed_in_at=_session_time(SIGNED_IN_AT),
        last_seen=_session_time(LAST_SEEN),
        now=now,
        policy=session_policy(),
    )
    if ended is not None:
        user = current_user._get_current_object()
        record_now("session.timeout", user, object_type="user", object_id=user.id,
                   after={"reason": ended.value, "path": request.path[:200]})  # fmt: skip
        end_session()
        flash(TIMEOUT_MESSAGE, "info")
        return redirect(url_for("auth.login", next=_next_target()))
    last_seen = session.get(LAST_SEEN)
    if _epoch(now) - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
        session[LAST_SEEN] = _epoch(now)
    if request.endpoint in PASSWORD_CHANGE_ENDPOINTS:
        return None
    if password_change_needed(current_user, now) is not None:
        return redirect(url_for("auth.password"))  # the page says why
    return None


# -- permissions ----------------------------------------------------------------------------


def can(permission: Permission) -> bool:
    """Whether the current user holds PERMISSION."""
    return bool(current_user.is_authenticated and has_permission(current_user.roles, permission))


def deny() -> None:
    """Refuse the current request with 403, recording who tried what (access.denied)."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    record_now(
        "access.denied", user,
        after={"endpoint": request.endpoint, "path": request.path[:200],
               "method": request.method},
    )  # fmt: skip
    abort(403)


def require(*permissions: Permission) -> Callable[[F], F]:
    """Sign-in plus any one of PERMISSIONS, else 403 (recorded)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not any(can(p) for p in permissions):
                deny()
            return view(*args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator


def visible_tasks_filter(user: User) -> Any:
    """A WHERE clause for the tasks USER may see (see services/task_queries.scope)."""
    return scope(user)


def get_visible_task(task_id: int) -> Task:
    """The task TASK_ID if the current user may see it; 404 otherwise, so ids leak nothing."""
    task = (
        get_session()
        .exec(select(Task).where(Task.id == task_id, visible_tasks_filter(current_user)))
        .first()
    )
    if task is None:
        abort(404)
    return task
