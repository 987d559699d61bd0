"""Blueprints: form → service → commit → flash → redirect. No rules of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, flash, request
from flask_wtf import FlaskForm

from app.core.errors import DomainError
from app.db import get_session

T = TypeVar("T")


def register_blueprints(app: Flask) -> None:
    """Register every blueprint and the error pages."""
    from app.views import (
        admin,
        audit,
        auth,
        calendar,
        drafts,
        errors,
        main,
        notifications,
        offices,
        reports,
        review,
        settings,
        tasks,
    )

    modules = (auth, main, tasks, offices, reports, review, admin, calendar, audit, settings,
               notifications, drafts)  # fmt: skip
    for module in modules:
        app.register_blueprint(module.bp)
    errors.init_app(app)


def client_ip() -> str | None:
    """The address the request came from (ProxyFix, when configured, makes it the client's)."""
    return request.remote_addr


def show_domain_error(form: FlaskForm, error: DomainError) -> None:
    """Put ERROR on its form field, or flash it when it belongs to no field."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def commit_or_explain(form: FlaskForm | None, work: Callable[[], T]) -> T | None:
    """Run a service call and commit its work; on a DomainError roll back, show the message
    (on FORM's field, or flashed) and return None, so nothing of the request is kept."""
    db = get_session()
    try:
        result = work()
    except DomainError as error:
        db.rollback()
        if form is None:
            flash(error.message, "error")
        else:
            show_domain_error(form, error)
        return None
    db.commit()
    return result


def page_number() -> int:
    """The ?page= of the request, 1 when missing or malformed."""
    return request.args.get("page", 1, type=int) or 1
