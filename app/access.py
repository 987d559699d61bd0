"""Who is signed in, and what they may see: the one place where roles are checked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort
from flask_login import current_user, login_required
from sqlmodel import select

from app.core.roles import Permission, Role, has_permission
from app.db import get_session
from app.extensions import login_manager
from app.models import Task, User
from app.services.task_queries import scope

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    """Configure Flask-Login for this app."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)
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


def can(permission: Permission) -> bool:
    """Whether the current user holds PERMISSION."""
    return bool(current_user.is_authenticated and has_permission(current_user.roles, permission))


def require(*permissions: Permission) -> Callable[[F], F]:
    """Sign-in plus any one of PERMISSIONS, else 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not any(can(p) for p in permissions):
                abort(403)
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
