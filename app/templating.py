"""Jinja filters that present dates, states and roles in Chinese."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

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


@lru_cache(maxsize=16)
def _option_list(pairs: tuple[tuple[int | str, str], ...]) -> str:
    return "".join(f'<option value="{escape(value)}">{escape(label)}</option>'
                   for value, label in pairs)  # fmt: skip


def cached_options_html(
    pairs: tuple[tuple[int | str, str], ...], selected: object = None
) -> Markup:
    """options_html for a tuple of (int or str, label) pairs, such as the list of offices: the
    markup is built once per distinct list (the tuple is the cache key, so a renamed office
    makes a new list) and only the selected option is marked on each call. The values must be
    ints or strings: True would hit the cache entry of 1."""
    html = _option_list(pairs)
    if selected is not None and selected != "":
        value = escape(selected)
        html = html.replace(f'<option value="{value}">', f'<option value="{value}" selected>')
    return Markup(html)


def task_rows_html(
    rows, lights: dict, light_text: dict[str, str], words: dict[str, str], selectable: bool,
    task_url: str, office_url: str,
) -> Markup:  # fmt: skip
    """The <tr> elements of a task table (templates/tasks/_rows.html, rows_table), built in
    Python: a list page shows fifty rows on every visit, and the same markup from a template
    loop costs five times as much. ROWS begin with (id, title, lead office id, lead office name,
    owner name, deadline, status), as services/task_queries.ROW_COLUMNS selects them; LIGHTS
    map a task id to its light, and LIGHT_TEXT the lights that are shown to their text; WORDS
    hold "pick" (the hidden label of a row's checkbox) and "nobody" (no owner). TASK_URL and
    OFFICE_URL end where the id goes."""
    task_url, office_url = escape(task_url), escape(office_url)
    pick_word, nobody = escape(words["pick"]), escape(words["nobody"])
    shown = {
        lit: f'<span class="light light-{escape(lit)}">{escape(text)}</span>'
        for lit, text in light_text.items()
    }
    statuses: dict[str, str] = {}
    parts = []
    for task_id, title, office_id, office_name, owner_name, deadline, status, *_ in rows:
        title = escape(title)
        if status not in statuses:
            statuses[status] = (
                f'<span class="badge badge-{escape(status)}">'
                f"{escape(_label(STATUS_LABELS, TaskStatus, status))}</span>"
            )
        pick = (
            f'<td><input type="checkbox" name="task_ids" value="{task_id}" form="bulk-form" '
            f'id="pick-{task_id}"><label for="pick-{task_id}" class="visually-hidden">'
            f"{pick_word}{title}</label></td>"
            if selectable
            else ""
        )
        parts.append(
            f'<tr>{pick}<td class="title"><a href="{task_url}{task_id}">{title}</a></td>'
            f'<td><a href="{office_url}{office_id}">{escape(office_name)}</a></td>'
            f"<td>{escape(owner_name) if owner_name else nobody}</td>"
            f"<td>{format_date_cn(deadline)}</td><td>{statuses[status]}</td>"
            f"<td>{shown.get(lights.get(task_id), '')}</td></tr>"
        )
    return Markup("\n".join(parts))


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
        "cached_options_html": cached_options_html,
        "task_rows_html": task_rows_html,
    }
    app.jinja_env.filters.update(filters)
    # Chinese stays readable in JSON responses and in |tojson.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
