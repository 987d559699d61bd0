"""The task state machine: which actions exist, who may take them, in which state.

    待签收 ──accept──▶ 办理中 ──submit──▶ 待审核 ──approve──▶ 已办结
                         ▲                    │
                         └──────return────────┘
    cancel (any open state) ──▶ 已撤销 cancelled;  reopen: closed/cancelled ──▶ in_progress/assigned
    reassign (open states) ──▶ assigned, for the new lead office

Extensions run beside the states: the lead office requests a new date before the deadline, the
coordinator approves or refuses. Overdue is derived from the deadline, never stored. Views and
services ask `check()` before every change; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.core.errors import DomainError
from app.core.roles import Permission, Role, has_permission
from app.core.workdays import WorkCalendar, next_recurring_due


class TaskStatus(StrEnum):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    CLOSED = "closed"
    CANCELLED = "cancelled"


STATUS_LABELS: dict[TaskStatus, str] = {
    TaskStatus.ASSIGNED: "待签收",
    TaskStatus.IN_PROGRESS: "办理中",
    TaskStatus.SUBMITTED: "待审核",
    TaskStatus.CLOSED: "已办结",
    TaskStatus.CANCELLED: "已撤销",
}

OPEN_STATUSES: frozenset[TaskStatus] = frozenset(
    {TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.SUBMITTED}
)


class Action(StrEnum):
    ACCEPT = "accept"
    UPDATE = "update"  # post progress (with outcomes and attachments)
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    EXTEND = "extend"  # the coordinator sets a new deadline directly (e.g. in bulk)
    REASSIGN = "reassign"
    CANCEL = "cancel"
    REOPEN = "reopen"
    COMMENT = "comment"
    URGE = "urge"


ACTION_LABELS: dict[Action, str] = {
    Action.ACCEPT: "签收",
    Action.UPDATE: "报送进展",
    Action.SUBMIT: "申请办结",
    Action.APPROVE: "审核办结",
    Action.RETURN: "退回",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "审批延期",
    Action.EXTEND: "调整时限",
    Action.REASSIGN: "重新交办",
    Action.CANCEL: "撤销",
    Action.REOPEN: "重新打开",
    Action.COMMENT: "批示/评论",
    Action.URGE: "督促",
}

# Actions that move the task to another state, and where to.
_TRANSITIONS: dict[Action, tuple[frozenset[TaskStatus], TaskStatus | None]] = {
    Action.ACCEPT: (frozenset({TaskStatus.ASSIGNED}), TaskStatus.IN_PROGRESS),
    Action.SUBMIT: (frozenset({TaskStatus.IN_PROGRESS}), TaskStatus.SUBMITTED),
    Action.APPROVE: (frozenset({TaskStatus.SUBMITTED}), TaskStatus.CLOSED),
    Action.RETURN: (frozenset({TaskStatus.SUBMITTED}), TaskStatus.IN_PROGRESS),
    Action.REASSIGN: (OPEN_STATUSES, TaskStatus.ASSIGNED),
    Action.CANCEL: (OPEN_STATUSES, TaskStatus.CANCELLED),
    Action.REOPEN: (frozenset({TaskStatus.CLOSED, TaskStatus.CANCELLED}), None),
    # Actions that leave the state alone, and the states they are possible in.
    Action.UPDATE: (frozenset({TaskStatus.IN_PROGRESS}), None),
    Action.REQUEST_EXTENSION: (frozenset({TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS}), None),
    Action.DECIDE_EXTENSION: (OPEN_STATUSES, None),
    Action.EXTEND: (OPEN_STATUSES, None),
    Action.COMMENT: (frozenset(TaskStatus), None),
    Action.URGE: (OPEN_STATUSES, None),
}

_LEAD_ACTIONS = frozenset({Action.ACCEPT, Action.SUBMIT, Action.REQUEST_EXTENSION})
_OFFICE_ACTIONS = frozenset({Action.UPDATE, Action.COMMENT})  # lead or cooperating office
_COORDINATOR_ACTIONS = frozenset(
    {Action.APPROVE, Action.RETURN, Action.DECIDE_EXTENSION, Action.EXTEND, Action.REASSIGN,
     Action.CANCEL, Action.REOPEN, Action.COMMENT, Action.URGE}
)  # fmt: skip
_LEADER_ACTIONS = frozenset({Action.COMMENT, Action.URGE})


@dataclass(frozen=True)
class Actor:
    roles: frozenset[Role]
    office_id: int | None


@dataclass(frozen=True)
class TaskFacts:
    status: TaskStatus
    lead_office_id: int
    cooperating_office_ids: frozenset[int]
    deadline: date
    has_pending_extension: bool = False
    has_progress: bool = False


def _may(actor: Actor, task: TaskFacts, action: Action) -> bool:
    """Whether ACTOR's roles and office let them take ACTION on TASK, whatever its state."""
    if has_permission(actor.roles, Permission.MANAGE_TASKS) and action in _COORDINATOR_ACTIONS:
        return True
    if has_permission(actor.roles, Permission.COMMENT_TASKS) and action in _LEADER_ACTIONS:
        return True
    if not has_permission(actor.roles, Permission.VIEW_OWN_OFFICE_TASKS) or not actor.office_id:
        return False
    is_lead = actor.office_id == task.lead_office_id
    if action in _LEAD_ACTIONS:
        return is_lead
    if action in _OFFICE_ACTIONS:
        return is_lead or actor.office_id in task.cooperating_office_ids
    return False


def refusal(actor: Actor, task: TaskFacts, action: Action, today: date) -> str | None:
    """Why ACTOR may not take ACTION on TASK today (Chinese), or None when they may."""
    if not _may(actor, task, action):
        return f"您无权对该任务执行“{ACTION_LABELS[action]}”。"
    states, _ = _TRANSITIONS[action]
    if task.status not in states:
        return f"任务当前为“{STATUS_LABELS[task.status]}”，不能{ACTION_LABELS[action]}。"
    if action == Action.SUBMIT and not task.has_progress:
        return "申请办结前请先报送进展（说明完成情况并附佐证材料）。"
    if action == Action.REQUEST_EXTENSION:
        if task.has_pending_extension:
            return "已有待审批的延期申请。"
        if today > task.deadline:
            return "已超过时限，不能再申请延期，请联系督办人员。"
    if action == Action.DECIDE_EXTENSION and not task.has_pending_extension:
        return "没有待审批的延期申请。"
    return None


def check(actor: Actor, task: TaskFacts, action: Action, today: date) -> None:
    """Raise DomainError unless ACTOR may take ACTION on TASK today."""
    reason = refusal(actor, task, action, today)
    if reason:
        raise DomainError(reason)


def allowed_actions(actor: Actor, task: TaskFacts, today: date) -> frozenset[Action]:
    """Every action ACTOR may take on TASK today (the buttons to show)."""
    return frozenset(a for a in Action if refusal(actor, task, a, today) is None)


def next_status(
    status: TaskStatus, action: Action, *, reopen_to: TaskStatus | None = None
) -> TaskStatus:
    """The state after ACTION. Reopening a closed task resumes the work (办理中); reopening a
    cancelled one starts again from 待签收, unless REOPEN_TO says otherwise."""
    _, target = _TRANSITIONS[action]
    if action == Action.REOPEN:
        default = TaskStatus.IN_PROGRESS if status == TaskStatus.CLOSED else TaskStatus.ASSIGNED
        return reopen_to or default
    return target or status


def is_open(status: TaskStatus | str) -> bool:
    """Whether a task in STATUS still needs work."""
    return TaskStatus(status) in OPEN_STATUSES


def is_overdue(status: TaskStatus | str, deadline: date, today: date) -> bool:
    """Overdue: the deadline has passed and the task is not closed (derived, never stored)."""
    return is_open(status) and today > deadline


def check_extension(current: date, requested: date, today: date) -> None:
    """A requested new deadline must be a real change into the future."""
    if requested <= current:
        raise DomainError("延期后的时限须晚于当前时限。", "new_deadline")
    if requested <= today:
        raise DomainError("延期后的时限须晚于今天。", "new_deadline")


def ensure_reason(reason: str | None, what: str) -> str:
    """A non-empty reason, for the actions that need one."""
    text = (reason or "").strip()
    if not text:
        raise DomainError(f"请填写{what}理由。", "reason")
    return text


class Light(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    NONE = "none"  # closed or cancelled: no light


LIGHT_LABELS: dict[Light, str] = {
    Light.RED: "红灯（已逾期）",
    Light.YELLOW: "黄灯（临近时限）",
    Light.GREEN: "绿灯（正常推进）",
    Light.NONE: "—",
}
YELLOW_WORKDAYS = 5


def light(
    status: TaskStatus | str, deadline: date, today: date, calendar: WorkCalendar,
    yellow_workdays: int = YELLOW_WORKDAYS,
) -> Light:  # fmt: skip
    """红 overdue; 黄 due within YELLOW_WORKDAYS working days; 绿 on track; none when done."""
    if not is_open(status):
        return Light.NONE
    if today > deadline:
        return Light.RED
    if calendar.workdays_between(today, deadline) <= yellow_workdays:
        return Light.YELLOW
    return Light.GREEN


def on_time_rate(closed: list[tuple[date, date]]) -> float | None:
    """Share of closed tasks closed on or before the deadline in force (the original one, moved
    only by approved extensions); None when nothing is closed yet. Pairs: (closed on, deadline)."""
    if not closed:
        return None
    return sum(1 for closed_on, deadline in closed if closed_on <= deadline) / len(closed)


def next_report_due(
    recurrence: str, last_report_on: date | None, created_on: date, calendar: WorkCalendar
) -> date:
    """When a recurring duty's next progress report is due: the end of the period after the
    last report (or after the task was created), moved back to a working day. A date before
    today means the periodic report is late."""
    return next_recurring_due(recurrence, last_report_on or created_on, calendar)
