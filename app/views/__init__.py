"""Blueprints: form → service → commit → flash → redirect. No rules of their own."""

from __future__ import annotations

from flask import Flask, flash, request
from flask_wtf import FlaskForm

from app.core.errors import DomainError


def register_blueprints(app: Flask) -> None:
    """Register every blueprint and the error pages."""
    from app.views import (
        admin,
        audit,
        auth,
        calendar,
        errors,
        main,
        offices,
        reports,
        review,
        tasks,
    )

    for module in (auth, main, tasks, offices, reports, review, admin, calendar, audit):
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


def page_number() -> int:
    """The ?page= of the request, 1 when missing or malformed."""
    return request.args.get("page", 1, type=int) or 1
