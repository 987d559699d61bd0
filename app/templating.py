"""Jinja filters that present dates, states and roles in Chinese."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, current_app
from markupsafe import Markup, escape

from app.core.glossary import (
    OBJECT_LABELS,
    OFFICE_KIND_LABELS,
    REPORT_STATUS_LABELS,
    OfficeKind,
    ReportStatus,
    audit_action_label,
)
from app.core.lifecycle import STATUS_LABELS, TaskStatus
from app.core.roles import ROLE_LABELS, Role
from app.core.timefmt import format_date_cn, format_datetime_cn


def _label(labels: dict, enum: type, value: str) -> str:
    try:
        return labels[enum(value)]
    except ValueError:
        return value


def _file_size(size: int) -> str:
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def options_html(pairs: list[tuple[object, str]], selected: object = None) -> Markup:
    """<option> elements for PAIRS, built in Python: lists of hundreds of offices are rendered
    on every list page, and a template loop costs ten times as much."""
    chosen = str(selected) if selected is not None else None
    parts = [
        f'<option value="{escape(value)}"{" selected" if str(value) == chosen else ""}>'
        f"{escape(label)}</option>"
        for value, label in pairs
    ]
    return Markup("".join(parts))


def init_app(app: Flask) -> None:
    """Register the filters."""
    filters = {
        "date_cn": lambda d: format_date_cn(d) if isinstance(d, date) else "",
        "datetime_cn": lambda dt: (
            format_datetime_cn(dt, current_app.config["TIMEZONE"])
            if isinstance(dt, datetime)
            else ""
        ),
        "status_label": lambda s: _label(STATUS_LABELS, TaskStatus, s),
        "role_label": lambda r: _label(ROLE_LABELS, Role, r),
        "office_kind_label": lambda k: _label(OFFICE_KIND_LABELS, OfficeKind, k),
        "report_status_label": lambda s: _label(REPORT_STATUS_LABELS, ReportStatus, s),
        "audit_action": audit_action_label,
        "object_label": lambda o: OBJECT_LABELS.get(o, o or ""),
        "file_size": _file_size,
        "options_html": options_html,
    }
    app.jinja_env.filters.update(filters)
    # Chinese stays readable in JSON responses and in |tojson.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
