"""The filtered, scoped task list: one query shared by the list pages and the 台账 export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, false, true
from sqlalchemy.orm import selectinload
from sqlmodel import or_, select

from app.core.lifecycle import OPEN_STATUSES, YELLOW_WORKDAYS, Light, TaskStatus
from app.core.roles import Permission, has_permission
from app.core.workdays import WorkCalendar
from app.models import Commitment, Report, Task, TaskCooperatingOffice, User

SORTS = {
    "deadline": (Task.deadline.asc(), Task.id.asc()),
    "-deadline": (Task.deadline.desc(), Task.id.desc()),
    "updated": (Task.updated_at.desc(), Task.id.desc()),
    "title": (Task.title.asc(), Task.id.asc()),
}
SORT_LABELS = {"deadline": "时限由近到远", "-deadline": "时限由远到近", "updated": "最近更新",
               "title": "任务名称"}  # fmt: skip
_OPEN = [s.value for s in OPEN_STATUSES]


@dataclass(frozen=True)
class TaskFilters:
    q: str | None = None
    office_id: int | None = None
    status: str | None = None
    light: str | None = None
    commitment_id: int | None = None
    report_id: int | None = None
    year: int | None = None  # the year of the report the task came from
    due_from: date | None = None
    due_to: date | None = None
    sort: str = "deadline"


def scope(user: User):
    """A WHERE clause for the tasks USER may see: all, their office's (lead or cooperating), or
    none."""
    if has_permission(user.roles, Permission.VIEW_ALL_TASKS):
        return true()
    if has_permission(user.roles, Permission.VIEW_OWN_OFFICE_TASKS) and user.office_id:
        cooperating = select(TaskCooperatingOffice.task_id).where(
            TaskCooperatingOffice.office_id == user.office_id
        )
        return (Task.lead_office_id == user.office_id) | Task.id.in_(cooperating)
    return false()


def light_clause(light: str, today: date, calendar: WorkCalendar):
    """The WHERE clause of one light, matching core/lifecycle.light()."""
    yellow_end = calendar.add_workdays(today, YELLOW_WORKDAYS + 1)  # first green deadline
    is_open = Task.status.in_(_OPEN)
    clauses = {
        Light.RED.value: is_open & (Task.deadline < today),
        Light.YELLOW.value: is_open & (Task.deadline >= today) & (Task.deadline < yellow_end),
        Light.GREEN.value: is_open & (Task.deadline >= yellow_end),
        Light.NONE.value: ~is_open,
    }
    return clauses.get(light, true())


def task_query(filters: TaskFilters, user: User, today: date, calendar: WorkCalendar) -> Select:
    """Tasks USER may see, filtered and sorted, with what the lists show loaded up front."""
    query = (
        select(Task)
        .where(scope(user))
        .options(selectinload(Task.lead_office), selectinload(Task.owner))
    )
    if filters.q:
        pattern = f"%{filters.q.strip()}%"
        query = query.where(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
    if filters.office_id:
        query = query.where(Task.lead_office_id == filters.office_id)
    if filters.status in {s.value for s in TaskStatus}:
        query = query.where(Task.status == filters.status)
    if filters.light:
        query = query.where(light_clause(filters.light, today, calendar))
    if filters.commitment_id:
        query = query.where(Task.commitment_id == filters.commitment_id)
    if filters.report_id or filters.year:
        source = select(Commitment.id).join(Report, Report.id == Commitment.report_id)
        if filters.report_id:
            source = source.where(Report.id == filters.report_id)
        if filters.year:
            source = source.where(Report.year == filters.year)
        query = query.where(Task.commitment_id.in_(source))
    if filters.due_from:
        query = query.where(Task.deadline >= filters.due_from)
    if filters.due_to:
        query = query.where(Task.deadline <= filters.due_to)
    return query.order_by(*SORTS.get(filters.sort, SORTS["deadline"]))
