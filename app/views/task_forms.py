"""Reading the task page's action forms into a workflow Request."""

from __future__ import annotations

import re
from datetime import date

from werkzeug.datastructures import MultiDict

from app.core.errors import DomainError
from app.services.task_workflow import Request

OUTCOME_ROWS = 3  # rows shown at first; a button adds more
MAX_OUTCOME_ROWS = 100
_ROW = re.compile(r"outcome-(?:metric|value|unit)-(\d{1,3})")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "", "None") else None
    except ValueError:
        return None


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise DomainError(f"日期“{value}”无效（格式：2027-03-31）。", "new_deadline") from exc


def _outcomes(form: MultiDict) -> list[tuple[str, float, str]]:
    """Rows outcome-metric-N / -value-N / -unit-N, for any N the page added (at most 100)."""
    numbers = sorted(
        {int(m.group(1)) for key in form if (m := _ROW.fullmatch(key))} | set(range(OUTCOME_ROWS))
    )[:MAX_OUTCOME_ROWS]
    rows = []
    for n in numbers:
        metric = form.get(f"outcome-metric-{n}", "").strip()
        raw = form.get(f"outcome-value-{n}", "").strip()
        unit = form.get(f"outcome-unit-{n}", "").strip()
        if not (metric or raw or unit):
            continue
        try:
            value = float(raw.replace(",", "").replace("，", ""))
        except ValueError as exc:
            raise DomainError(f"“{metric or '量化成果'}”的数值须为数字。", "outcomes") from exc
        rows.append((metric, value, unit))
    return rows


def read_request(form: MultiDict) -> Request:
    """Every field any action form may carry; each action reads the ones it needs."""
    return Request(
        version=_int(form.get("version")),
        text=form.get("text", "")[:10_000],
        reason=form.get("reason", "")[:2_000],
        new_deadline=_date(form.get("new_deadline")),
        approve=form.get("decision") == "approve",
        office_id=_int(form.get("office_id")),
        owner_id=_int(form.get("owner_id")),
        cooperating=[i for i in map(_int, form.getlist("cooperating")) if i is not None],
        outcomes=_outcomes(form),
    )
