"""The filtered, scoped task list: the WHERE clauses shared by the list pages and the 台账 export,
and the narrow reads the list pages make.

The list pages run on every visit, so their statements are built once per *shape* (which
filters are set, which sort, whose tasks) with bound parameters for the values, and executed on
the session's connection as plain rows: building a SELECT and computing its cache key costs
SQLAlchemy more than SQLite takes to run it, and ORM objects cost more than the rows they hold.
The page's rows are chosen first by task id alone (which the indexes answer without reading the
tasks), and only those rows are joined to their offices and owners.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, case, false, func, true
from sqlalchemy.orm import aliased, selectinload
from sqlmodel import Session, or_, select

from app.core import lifecycle
from app.core.lifecycle import (
    OPEN_STATUSES,
    YELLOW_WORKDAYS,
    Action,
    Light,
    TaskFacts,
    TaskStatus,
)
from app.core.roles import Permission, has_permission
from app.core.workdays import WorkCalendar
from app.models import (
    Attachment,
    AuditEvent,
    Commitment,
    CommitmentProblem,
    DeadlineChange,
    ExtensionRequest,
    Office,
    Outcome,
    Problem,
    ProgressUpdate,
    Report,
    Task,
    TaskComment,
    TaskCooperatingOffice,
    User,
)
from app.pagination import Page

SORTS = {
    "deadline": (Task.deadline.asc(), Task.id.asc()),
    "-deadline": (Task.deadline.desc(), Task.id.desc()),
    "updated": (Task.updated_at.desc(), Task.id.desc()),
    "title": (Task.title.asc(), Task.id.asc()),
}
SORT_LABELS = {"deadline": "时限由近到远", "-deadline": "时限由远到近", "updated": "最近更新",
               "title": "任务名称"}  # fmt: skip
_OPEN = sorted(s.value for s in OPEN_STATUSES)
_OPEN_SET = frozenset(_OPEN)
_STATUSES = frozenset(s.value for s in TaskStatus)
_STATUS_OF = {s.value: s for s in TaskStatus}
_LIGHTS = frozenset(v.value for v in Light)


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


# -- who sees what --------------------------------------------------------------------------

ALL, OWN_OFFICE, NONE = "all", "own_office", "none"


def visibility(user: User) -> str:
    """Which tasks USER may see: ALL, their OWN_OFFICE's (lead or cooperating), or NONE."""
    if has_permission(user.roles, Permission.VIEW_ALL_TASKS):
        return ALL
    if has_permission(user.roles, Permission.VIEW_OWN_OFFICE_TASKS) and user.office_id:
        return OWN_OFFICE
    return NONE


def _scope_clause(seen: str, office: Any):
    """The WHERE clause of SEEN; OFFICE is the user's office id, or a bound parameter for it."""
    if seen == ALL:
        return true()
    if seen == OWN_OFFICE:
        cooperating = select(TaskCooperatingOffice.task_id).where(
            TaskCooperatingOffice.office_id == office
        )
        return (Task.lead_office_id == office) | Task.id.in_(cooperating)
    return false()


def scope(user: User):
    """A WHERE clause for the tasks USER may see: all, their office's (lead or cooperating), or
    none."""
    return _scope_clause(visibility(user), user.office_id)


# -- filters --------------------------------------------------------------------------------


class Shape(NamedTuple):
    """What a filtered list's statement depends on, apart from the values it compares with."""

    seen: str
    q: bool = False
    office: bool = False
    status: bool = False
    light: str | None = None
    commitment: bool = False
    report: bool = False
    year: bool = False
    due_from: bool = False
    due_to: bool = False


def _yellow_end(today: date, calendar: WorkCalendar) -> date:
    """The first deadline that is green today."""
    return calendar.add_workdays(today, YELLOW_WORKDAYS + 1)


def shape_and_values(
    filters: TaskFilters, user: User, today: date, calendar: WorkCalendar
) -> tuple[Shape, dict[str, Any]]:
    """The shape of FILTERS for USER, and the values of its bound parameters (a statement
    ignores the values it has no parameter for)."""
    values: dict[str, Any] = {"scope_office": user.office_id}
    lit = filters.light if filters.light in _LIGHTS else None
    if lit:
        values.update(today=today, yellow_end=_yellow_end(today, calendar))
    if filters.q:
        values["q"] = f"%{filters.q.strip()}%"
    shape = Shape(
        seen=visibility(user), q=bool(filters.q), office=bool(filters.office_id),
        status=filters.status in _STATUSES, light=lit, commitment=bool(filters.commitment_id),
        report=bool(filters.report_id), year=bool(filters.year), due_from=bool(filters.due_from),
        due_to=bool(filters.due_to),
    )  # fmt: skip
    values.update(office_id=filters.office_id, status=filters.status,
                  commitment_id=filters.commitment_id, report_id=filters.report_id,
                  year=filters.year, due_from=filters.due_from, due_to=filters.due_to)  # fmt: skip
    return shape, values


def light_clause(lit: str, today: Any, yellow_end: Any):
    """The WHERE clause of one light, matching core/lifecycle.light(); TODAY and YELLOW_END (the
    first deadline that is green today) are dates or bound parameters."""
    is_open = Task.status.in_(_OPEN)
    clauses = {
        Light.RED.value: is_open & (Task.deadline < today),
        Light.YELLOW.value: is_open & (Task.deadline >= today) & (Task.deadline < yellow_end),
        Light.GREEN.value: is_open & (Task.deadline >= yellow_end),
        Light.NONE.value: ~is_open,
    }
    return clauses.get(lit, true())


@lru_cache(maxsize=256)
def _clauses(shape: Shape) -> tuple:
    """The WHERE clauses of SHAPE, with bound parameters for every value. A user who sees all
    tasks adds no clause (a bare count is answered from the index's page counts)."""
    clauses = [] if shape.seen == ALL else [_scope_clause(shape.seen, bindparam("scope_office"))]
    if shape.q:
        pattern = bindparam("q")
        clauses.append(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
    if shape.office:
        clauses.append(Task.lead_office_id == bindparam("office_id"))
    if shape.status:
        clauses.append(Task.status == bindparam("status"))
    if shape.light:
        clauses.append(light_clause(shape.light, bindparam("today"), bindparam("yellow_end")))
    if shape.commitment:
        clauses.append(Task.commitment_id == bindparam("commitment_id"))
    if shape.report or shape.year:
        source = select(Commitment.id).join(Report, Report.id == Commitment.report_id)
        if shape.report:
            source = source.where(Report.id == bindparam("report_id"))
        if shape.year:
            source = source.where(Report.year == bindparam("year"))
        clauses.append(Task.commitment_id.in_(source))
    if shape.due_from:
        clauses.append(Task.deadline >= bindparam("due_from"))
    if shape.due_to:
        clauses.append(Task.deadline <= bindparam("due_to"))
    return tuple(clauses)


def task_query(filters: TaskFilters, user: User, today: date, calendar: WorkCalendar) -> Select:
    """Tasks USER may see, filtered and sorted, with what the lists show loaded up front."""
    shape, values = shape_and_values(filters, user, today, calendar)
    return (
        select(Task)
        .where(*_clauses(shape))
        .options(selectinload(Task.lead_office), selectinload(Task.owner))
        .order_by(*SORTS.get(filters.sort, SORTS["deadline"]))
        .params(values)
    )


# -- the list pages: plain rows, not ORM objects ----------------------------------------------

_OWNER = aliased(User)
ROW_COLUMNS = (
    Task.id, Task.title, Task.lead_office_id, Office.name.label("office_name"),
    _OWNER.name.label("owner_name"), Task.deadline, Task.status,
)  # fmt: skip


def _rows(chosen, order: tuple, *clauses, extra: tuple = ()) -> Select:
    """The rows of the tasks whose ids the subquery CHOSEN has (in its column "id"), in ORDER,
    where CLAUSES (on CHOSEN's columns) hold; EXTRA columns after ROW_COLUMNS."""
    return (
        select(*ROW_COLUMNS, *extra)
        .select_from(chosen)
        .join(Task, Task.id == chosen.c.id)
        .join(Office, Office.id == Task.lead_office_id)
        .outerjoin(_OWNER, _OWNER.id == Task.owner_id)
        .where(*clauses)
        .order_by(*order)
    )


@lru_cache(maxsize=256)
def _list_statements(shape: Shape, sort: str) -> tuple[Select, Select]:
    """SHAPE's count, and the rows of one page of it in SORT (parameters "limit", "offset")."""
    clauses = _clauses(shape)
    order = SORTS[sort]
    count = select(func.count()).select_from(Task).where(*clauses)
    chosen = (
        select(Task.id).where(*clauses).order_by(*order)
        .limit(bindparam("limit")).offset(bindparam("offset")).subquery()
    )  # fmt: skip
    return count, _rows(chosen, order)


def list_page(
    session: Session, filters: TaskFilters, user: User, today: date, calendar: WorkCalendar,
    number: int, size: int, total: int | None = None,
) -> Page:  # fmt: skip
    """Page NUMBER (1-based, clamped to the last page) of the rows of FILTERS for USER: a count
    that the indexes answer (unless TOTAL is known), and the page's rows."""
    shape, values = shape_and_values(filters, user, today, calendar)
    count, rows = _list_statements(shape, filters.sort if filters.sort in SORTS else "deadline")
    connection = session.connection()
    if total is None:
        total = connection.execute(count, values).scalar() or 0
    number = min(max(1, number), max(1, -(-total // size)))
    values.update(limit=size, offset=(number - 1) * size)
    items = connection.execute(rows, values).all()
    return Page(items=items, number=number, size=size, total=total)


# -- 我的任务 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyTasks:
    """我的任务: tasks per state, open tasks per light, and the first rows of each state."""

    by_status: dict[TaskStatus, int]
    by_light: dict[str, int]
    groups: dict[TaskStatus, list]  # rows (ROW_COLUMNS), nearest deadline first


@lru_cache(maxsize=8)
def _my_tasks_statement(seen: str) -> Select:
    """Each state's first rows, each carrying its state's figures: how many tasks, how many
    with a deadline before today, how many before the first green deadline."""
    state = {"partition_by": Task.status}
    numbered = select(
        Task.id,
        func.row_number().over(order_by=(Task.deadline.asc(), Task.id.asc()), **state)
        .label("position"),
        func.count().over(**state).label("tasks"),
        func.sum(case((Task.deadline < bindparam("today"), 1), else_=0)).over(**state)
        .label("reds"),
        func.sum(case((Task.deadline < bindparam("yellow_end"), 1), else_=0)).over(**state)
        .label("not_greens"),
    ).where(*_clauses(Shape(seen))).subquery()  # fmt: skip
    return _rows(
        numbered, SORTS["deadline"], numbered.c.position <= bindparam("positions"),
        extra=(numbered.c.position, numbered.c.tasks, numbered.c.reds, numbered.c.not_greens),
    )  # fmt: skip


def my_tasks(
    session: Session, user: User, today: date, calendar: WorkCalendar, per_status: int
) -> MyTasks:
    """How many of USER's tasks are in each state and, of the open ones, under each light (as
    light_clause() draws them), with the first PER_STATUS rows of each state (none when 0): one
    statement, the figures counted by window functions over the tasks USER may see."""
    seen = visibility(user)
    values: dict[str, Any] = {
        "today": today, "yellow_end": _yellow_end(today, calendar),
        "positions": max(per_status, 1),  # a state's first row carries its figures
        "scope_office": user.office_id if seen == OWN_OFFICE else None,
    }  # fmt: skip
    by_status = dict.fromkeys(TaskStatus, 0)
    by_light = dict.fromkeys((Light.RED.value, Light.YELLOW.value, Light.GREEN.value), 0)
    groups: dict[TaskStatus, list] = {status: [] for status in TaskStatus}
    for row in session.connection().execute(_my_tasks_statement(seen), values):
        status = _STATUS_OF.get(row.status)
        if status is None:
            continue
        if row.position == 1:
            by_status[status] = row.tasks
            if row.status in _OPEN:
                by_light[Light.RED.value] += row.reds
                by_light[Light.YELLOW.value] += row.not_greens - row.reds
                by_light[Light.GREEN.value] += row.tasks - row.not_greens
        if row.position <= per_status:
            groups[status].append(row)
    return MyTasks(by_status, by_light, groups)


def row_lights(rows, today: date, calendar: WorkCalendar) -> dict[int, Light]:
    """The light of each row, by task id: core/lifecycle.light(), drawn as light_clause() draws
    it (one date comparison a row, the calendar consulted once for the whole list)."""
    yellow_end = _yellow_end(today, calendar)
    lights = {}
    for row in rows:
        if row.status not in _OPEN_SET:
            lights[row.id] = Light.NONE
        elif row.deadline < today:
            lights[row.id] = Light.RED
        else:
            lights[row.id] = Light.YELLOW if row.deadline < yellow_end else Light.GREEN
    return lights


# -- the office lists of the filters and of the bulk form -----------------------------------

_OFFICE_CHOICES = select(Office.id, Office.name).order_by(Office.kind, Office.id)


def office_choices(session: Session) -> tuple[tuple[int, str], ...]:
    """(id, name) of every office in the order of the selects, as plain tuples (a unit may have
    hundreds of offices): hashable, so that the rendered <option> list is reused while the
    offices stay the same (templating.cached_options_html)."""
    return tuple((id_, name) for id_, name in session.connection().execute(_OFFICE_CHOICES))


# -- the task page --------------------------------------------------------------------------
#
# The page shows the task, its offices, its source, its whole history and what the user may do
# with it. Each part is one narrow statement, built once, executed on the session's connection:
# a fixed number of statements whatever the history, and no ORM objects.

_UPDATE_AUTHOR, _COMMENT_AUTHOR = aliased(User), aliased(User)
_PENDING = aliased(ExtensionRequest)
_TASK_ID = bindparam("task_id")


@lru_cache(maxsize=8)
def _task_statement(seen: str) -> Select:
    """The task with its lead office's and owner's names, its source (the commitment and its
    report) and its undecided extension request (the first, should there be several)."""
    first_pending = (
        select(func.min(ExtensionRequest.id))
        .where(ExtensionRequest.task_id == Task.id, ExtensionRequest.status == "pending")
        .scalar_subquery()
    )
    return (
        select(
            Task.id,
            Task.title,
            Task.status,
            Task.deadline,
            Task.recurrence,
            Task.version,
            Task.created_at,
            Task.commitment_id,
            Task.lead_office_id,
            Office.name.label("lead_office_name"),
            _OWNER.name.label("owner_name"),
            Commitment.marker,
            Commitment.lead,
            Commitment.text.label("commitment_text"),
            Commitment.report_id,
            Report.title.label("report_title"),
            _PENDING.id.label("pending_id"),
            _PENDING.old_deadline.label("pending_old_deadline"),
            _PENDING.new_deadline.label("pending_new_deadline"),
            _PENDING.reason.label("pending_reason"),
        )
        .join(Office, Office.id == Task.lead_office_id)
        .outerjoin(_OWNER, _OWNER.id == Task.owner_id)
        .outerjoin(Commitment, Commitment.id == Task.commitment_id)
        .outerjoin(Report, Report.id == Commitment.report_id)
        .outerjoin(_PENDING, _PENDING.id == first_pending)
        .where(Task.id == _TASK_ID, *_clauses(Shape(seen)))
    )


class Source(NamedTuple):
    """The commitment a task comes from, and its report."""

    id: int
    marker: str
    lead: str
    text: str
    report_id: int
    report_title: str


class Pending(NamedTuple):
    """An undecided extension request."""

    old_deadline: date
    new_deadline: date
    reason: str


_COOPERATING = (
    select(Office.id, Office.name)
    .join(TaskCooperatingOffice, TaskCooperatingOffice.office_id == Office.id)
    .where(TaskCooperatingOffice.task_id == _TASK_ID)
    .order_by(Office.id)
)
_PROBLEMS = (
    select(Problem.lead)
    .join(CommitmentProblem, CommitmentProblem.problem_id == Problem.id)
    .where(CommitmentProblem.commitment_id == bindparam("commitment_id"))
    .order_by(Problem.id)
)
_UPDATES = (  # a row per outcome (one with none when an update has no outcome)
    select(
        ProgressUpdate.id,
        ProgressUpdate.text,
        ProgressUpdate.created_at,
        _UPDATE_AUTHOR.name.label("author"),
        Outcome.id.label("outcome_id"),
        Outcome.metric,
        Outcome.value,
        Outcome.unit,
    )
    .outerjoin(_UPDATE_AUTHOR, _UPDATE_AUTHOR.id == ProgressUpdate.author_id)
    .outerjoin(Outcome, Outcome.update_id == ProgressUpdate.id)
    .where(ProgressUpdate.task_id == _TASK_ID)
    .order_by(ProgressUpdate.id, Outcome.id)
)
_FILES = (
    select(Attachment.id, Attachment.owner_id, Attachment.original_name, Attachment.size)
    .join(ProgressUpdate, ProgressUpdate.id == Attachment.owner_id)
    .where(Attachment.owner_type == "progress_update", ProgressUpdate.task_id == _TASK_ID)
    .order_by(Attachment.id)
)
_COMMENTS = (
    select(
        TaskComment.id,
        TaskComment.kind,
        TaskComment.text,
        TaskComment.created_at,
        _COMMENT_AUTHOR.name.label("author"),
    )
    .outerjoin(_COMMENT_AUTHOR, _COMMENT_AUTHOR.id == TaskComment.author_id)
    .where(TaskComment.task_id == _TASK_ID)
    .order_by(TaskComment.id)
)
_CHANGES = (
    select(
        AuditEvent.id,
        AuditEvent.action,
        AuditEvent.before,
        AuditEvent.after,
        AuditEvent.at,
        AuditEvent.actor_login,
    )
    .where(AuditEvent.object_type == "task", AuditEvent.object_id == _TASK_ID)
    .order_by(AuditEvent.id)
)
_DEADLINES = (
    select(
        DeadlineChange.changed_at,
        DeadlineChange.old_deadline,
        DeadlineChange.new_deadline,
        DeadlineChange.reason,
    )
    .where(DeadlineChange.task_id == _TASK_ID)
    .order_by(DeadlineChange.changed_at, DeadlineChange.id)
)


@dataclass(frozen=True)
class TaskPage:
    """What the task page shows; rows with the attributes the template reads."""

    task: Any  # id, title, status, deadline, recurrence, version, created_at, commitment_id,
    # lead_office_id, lead_office_name, owner_name
    cooperating: list  # id, name
    source: Source | None  # the commitment the task comes from
    problems: list[str]  # the leads of the problems the commitment answers
    timeline: list[TimelineEntry]
    deadlines: list  # changed_at, old_deadline, new_deadline, reason
    pending: Pending | None  # the undecided extension request
    returned: str | None  # why the task was sent back, while not yet submitted again
    facts: TaskFacts  # what the state machine needs to know


def task_page(session: Session, task_id: int, user: User) -> TaskPage | None:
    """The task page of TASK_ID for USER, or None when USER may not see it (or it does not
    exist): eight statements at most, whatever the task's history."""
    connection = session.connection()
    seen = visibility(user)
    values: dict[str, Any] = {"task_id": task_id, "scope_office": user.office_id}
    task = connection.execute(_task_statement(seen), values).first()
    if task is None:
        return None
    source, problems, pending = None, [], None
    if task.commitment_id:
        source = Source(task.commitment_id, task.marker, task.lead, task.commitment_text,
                        task.report_id, task.report_title)  # fmt: skip
        problems = list(
            connection.execute(_PROBLEMS, {"commitment_id": task.commitment_id}).scalars()
        )
    if task.pending_id is not None:
        pending = Pending(task.pending_old_deadline, task.pending_new_deadline,
                          task.pending_reason)  # fmt: skip
    cooperating = connection.execute(_COOPERATING, values).all()
    updates: list = []
    outcomes: dict[int, list] = {}
    files: dict[int, list] = {}
    for row in connection.execute(_UPDATES, values):
        if not updates or updates[-1].id != row.id:
            updates.append(row)
        if row.outcome_id is not None:
            outcomes.setdefault(row.id, []).append(row)
    if updates:
        for attachment in connection.execute(_FILES, values):
            files.setdefault(attachment.owner_id, []).append(attachment)
    comments = connection.execute(_COMMENTS, values).all()
    changes = connection.execute(_CHANGES, values).all()
    facts = TaskFacts(
        status=TaskStatus(task.status), lead_office_id=task.lead_office_id,
        cooperating_office_ids=frozenset(office.id for office in cooperating),
        deadline=task.deadline, has_pending_extension=pending is not None,
        has_progress=bool(updates),
    )  # fmt: skip
    return TaskPage(
        task=task, cooperating=cooperating, source=source, problems=problems,
        timeline=merge_timeline(task.created_at, updates, outcomes, files, comments, changes),
        deadlines=connection.execute(_DEADLINES, values).all(), pending=pending,
        returned=_return_reason(task.status, comments), facts=facts,
    )  # fmt: skip


# -- the timeline -------------------------------------------------------------------------------

COMMENT_LABELS = {
    "comment": "批示/评论", "urge": "督促", "submit": "申请办结说明", "approve": "审核意见",
    "return": "退回理由", "reassign": "重新交办理由", "cancel": "撤销理由",
    "reopen": "重新打开理由",
}  # fmt: skip
ACTION_NOTES = {"submit", "approve", "return", "reassign", "cancel", "reopen"}
# Audit actions already shown on the timeline through their own rows.
SHOWN_ELSEWHERE = {"task.update", "task.comment", "task.urge"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # progress, comment, change
    label: str
    author: str
    text: str = ""
    outcomes: tuple[Outcome, ...] = ()
    attachments: tuple[Attachment, ...] = ()


def change_entry(event: AuditEvent, note: TaskComment | None = None) -> TimelineEntry:
    action = event.action.removeprefix("task.")
    known = {a.value: a for a in Action}
    label = lifecycle.ACTION_LABELS[known[action]] if action in known else action
    before, after = (event.before or {}).get("status"), (event.after or {}).get("status")
    text = ""
    if before and after and before != after:
        labels = lifecycle.STATUS_LABELS
        text = f"{labels[TaskStatus(before)]} → {labels[TaskStatus(after)]}"
    if note is not None:
        text = f"{text}。{COMMENT_LABELS[note.kind]}：{note.text}" if text else note.text
    return TimelineEntry(event.at, "change", label, event.actor_login or "系统", text)


def merge_timeline(
    created_at, updates, outcomes: dict[int, list], files: dict[int, list], comments, changes
) -> list[TimelineEntry]:
    """Progress updates, comments and state changes, newest first, from rows already read."""
    # A reason given with a state change (退回理由…) is shown on that change, not beside it.
    notes = {(c.created_at, c.kind): c for c in comments if c.kind in ACTION_NOTES}
    joined = {id(notes[key]) for e in changes if (key := (e.at, e.action.removeprefix("task.")))
              in notes}  # fmt: skip
    entries = [
        TimelineEntry(u.created_at, "progress", "进展", _name(u.author), u.text,
                      tuple(outcomes.get(u.id, ())), tuple(files.get(u.id, ())))
        for u in updates
    ] + [
        TimelineEntry(c.created_at, "comment", COMMENT_LABELS.get(c.kind, "评论"),
                      _name(c.author), c.text)
        for c in comments if id(c) not in joined
    ] + [
        change_entry(e, notes.get((e.at, e.action.removeprefix("task."))))
        for e in changes if e.action not in SHOWN_ELSEWHERE
    ] + [
        TimelineEntry(created_at, "change", "交办", "督办人员", "任务创建，待签收")
    ]  # fmt: skip
    return sorted(entries, key=lambda e: e.at, reverse=True)


def _name(name: str | None) -> str:
    return "—" if name is None else name


def _return_reason(status: str, comments) -> str | None:
    """task_workflow.return_reason() from the comments already read."""
    if status != TaskStatus.IN_PROGRESS:
        return None
    latest = max(
        (c for c in comments if c.kind in ("return", "submit")),
        key=lambda c: (c.created_at, c.id), default=None,
    )  # fmt: skip
    return latest.text if latest is not None and latest.kind == "return" else None
