"""Reading the task page's action forms into a workflow Request, and the list's filters from its
query string."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType

from werkzeug.datastructures import MultiDict

from app.core.errors import DomainError
from app.forms import BulkForm, TaskFilterForm, options
from app.services.task_queries import TaskFilters
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


# -- the list's filters ------------------------------------------------------------------------
#
# The filter form of 全部任务 is read on every visit of the coordinator's start page, and building
# a WTForms form costs more than the rest of reading the page's rows. What forms.TaskFilterForm
# makes of a query string depends on nothing else, so each distinct set of filter values is read
# by the form once per process and kept, as plain data, for the next visits (paging through a
# list, coming back to the start page).

FILTER_FIELDS = ("q", "office_id", "status", "light", "year", "due_from", "due_to", "sort",
                 "report", "commitment")  # fmt: skip
FILTERS_KEPT = 256


@dataclass(frozen=True)
class FilterInput:
    """The filter form as read from a query string, as plain data for the template."""

    filters: TaskFilters  # what to apply: none of the form's when a field is in error
    labels: Mapping[str, str]  # each field's label
    values: Mapping[str, str]  # the text to show back in each input
    data: Mapping[str, object]  # each field's value (a select's selected option)
    errors: Mapping[str, tuple[str, ...]]  # the messages of each field in error
    choices: Mapping[str, tuple[tuple[str, str], ...]]  # the options of each select


def read_filters(args: MultiDict, statuses, sorts) -> FilterInput:
    """The filters of ARGS (the list's query string); STATUSES and SORTS are the (value, label)
    options of those selects."""
    key = tuple((name, tuple(args.getlist(name))) for name in FILTER_FIELDS if name in args)
    return _read_filters(key, tuple(statuses), tuple(sorts))


@lru_cache(maxsize=FILTERS_KEPT)
def _read_filters(key: tuple, statuses: tuple, sorts: tuple) -> FilterInput:
    args = MultiDict([(name, value) for name, values in key for value in values])
    form = TaskFilterForm(formdata=args)
    form.status.choices = options(statuses)
    form.sort.choices = options(sorts)
    valid = form.validate()
    data = form.data if valid else {}
    filters = TaskFilters(
        q=data.get("q"), office_id=data.get("office_id"), status=data.get("status"),
        light=data.get("light"), year=data.get("year"), due_from=data.get("due_from"),
        due_to=data.get("due_to"), sort=data.get("sort") or "deadline",
        report_id=args.get("report", type=int), commitment_id=args.get("commitment", type=int),
    )  # fmt: skip
    fields = list(form)
    frozen = MappingProxyType  # kept for other requests: read-only
    return FilterInput(
        filters=filters,
        labels=frozen({f.name: f.label.text for f in fields}),
        values=frozen({f.name: f._value() for f in fields if hasattr(f, "_value")}),
        data=frozen({f.name: f.data for f in fields}),
        errors=frozen({f.name: tuple(f.errors) for f in fields if f.errors}),
        choices=frozen({f.name: tuple((c.value, c.label) for c in f.choices) for f in fields
                        if getattr(f, "choices", None) is not None}),
    )  # fmt: skip


@dataclass(frozen=True)
class BlankForm:
    """A form as it shows before any input (labels and options), as plain data."""

    labels: Mapping[str, str]
    choices: Mapping[str, tuple[tuple[object, str], ...]]


@lru_cache(maxsize=1)
def blank_bulk_form() -> BlankForm:
    """The labels and options of forms.BulkForm, read once per process: the list shows the bulk
    form, empty, to coordinators on every visit (its CSRF token is the page's own)."""
    form = BulkForm(formdata=None, meta={"csrf": False})
    return BlankForm(
        labels=MappingProxyType({f.name: f.label.text for f in form}),
        choices=MappingProxyType({f.name: tuple((c.value, c.label) for c in f.choices)
                                  for f in form if getattr(f, "choices", None)}),
    )  # fmt: skip
