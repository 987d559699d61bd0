"""The task workflow: every change of a task goes through core/lifecycle.check() and writes an
AuditEvent; state-changing actions also check the version the user saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, select

from app.core import lifecycle
from app.core.errors import DomainError
from app.core.lifecycle import Action, Actor, TaskFacts, TaskStatus
from app.models import (
    DeadlineChange,
    ExtensionRequest,
    Office,
    Outcome,
    ProgressUpdate,
    Task,
    TaskComment,
    TaskCooperatingOffice,
    User,
)
from app.services import audit

TASK_AUDIT_FIELDS = ["status", "deadline", "lead_office_id", "owner_id", "version"]
STALE = "该任务已被他人修改，请刷新页面后重试（您的修改未保存）。"
# Actions that change the task row itself, and so must not overwrite someone else's change.
_VERSIONED = frozenset(
    {Action.ACCEPT, Action.SUBMIT, Action.APPROVE, Action.RETURN, Action.DECIDE_EXTENSION,
     Action.EXTEND, Action.REASSIGN, Action.CANCEL, Action.REOPEN}
)  # fmt: skip


def actor_of(user: User) -> Actor:
    """The core's view of a user."""
    return Actor(user.roles, user.office_id)


def pending_extension(session: Session, task_id: int) -> ExtensionRequest | None:
    """The task's undecided extension request, if any."""
    return session.exec(
        select(ExtensionRequest).where(
            ExtensionRequest.task_id == task_id, ExtensionRequest.status == "pending"
        )
    ).first()


def cooperating_ids(session: Session, task_id: int) -> frozenset[int]:
    rows = session.exec(
        select(TaskCooperatingOffice.office_id).where(TaskCooperatingOffice.task_id == task_id)
    )
    return frozenset(rows)


def facts_of(session: Session, task: Task) -> TaskFacts:
    """What the state machine needs to know about TASK."""
    has_progress = session.exec(
        select(ProgressUpdate.id).where(ProgressUpdate.task_id == task.id).limit(1)
    ).first()
    return TaskFacts(
        status=TaskStatus(task.status),
        lead_office_id=task.lead_office_id,
        cooperating_office_ids=cooperating_ids(session, task.id),
        deadline=task.deadline,
        has_pending_extension=pending_extension(session, task.id) is not None,
        has_progress=has_progress is not None,
    )


def allowed_actions(session: Session, task: Task, user: User, today: date) -> frozenset[Action]:
    """The actions USER may take on TASK today."""
    return lifecycle.allowed_actions(actor_of(user), facts_of(session, task), today)


@dataclass
class Request:
    """What the user submitted with an action (only the fields the action needs are read)."""

    version: int | None = None
    text: str = ""
    reason: str = ""
    new_deadline: date | None = None
    approve: bool = False
    office_id: int | None = None
    owner_id: int | None = None
    cooperating: list[int] = field(default_factory=list)
    outcomes: list[tuple[str, float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionResult:
    message: str  # a Chinese confirmation for the user
    update_id: int | None = None  # the progress update created, to attach evidence to


def perform(
    session: Session, *, task: Task, user: User, action: Action, request: Request,
    today: date, now: datetime, ip: str | None = None,
) -> ActionResult:  # fmt: skip
    """Take ACTION on TASK for USER, or raise DomainError (then nothing is written)."""
    # A page older than the task explains itself first: what it offered may no longer apply.
    if action in _VERSIONED and request.version is not None and request.version != task.version:
        raise DomainError(STALE)
    lifecycle.check(actor_of(user), facts_of(session, task), action, today)
    before = audit.snapshot(task, TASK_AUDIT_FIELDS)
    result = _HANDLERS[action](session, task, user, request, today, now)
    if isinstance(result, str):
        result = ActionResult(result)
    if action in _VERSIONED:
        task.updated_at = now
        session.add(task)
    session.flush()
    audit.record(
        session, actor=user, action=f"task.{action.value}", object_type="task",
        object_id=task.id, before=before, after=audit.snapshot(task, TASK_AUDIT_FIELDS), ip=ip,
        at=now,  # the same instant as the action's comment, so the timeline can join them
    )  # fmt: skip
    return result


def _move(task: Task, action: Action) -> None:
    task.status = lifecycle.next_status(TaskStatus(task.status), action).value


def _note(session: Session, task: Task, user: User, kind: str, text: str, now: datetime) -> None:
    if text.strip():
        session.add(
            TaskComment(task_id=task.id, author_id=user.id, kind=kind, text=text.strip(),
                        created_at=now)
        )  # fmt: skip


def _accept(session, task, user, request, today, now) -> str:
    _move(task, Action.ACCEPT)
    if task.owner_id is None:
        task.owner_id = user.id
    return "已签收，任务进入办理中。"


def _update(session, task, user, request, today, now) -> str:
    text = request.text.strip()
    if not text:
        raise DomainError("请填写进展情况。", "text")
    outcomes = [_outcome(*o) for o in request.outcomes]
    update = ProgressUpdate(task_id=task.id, author_id=user.id, text=text, created_at=now,
                            outcomes=outcomes)  # fmt: skip
    session.add(update)
    session.flush()
    return ActionResult("进展已报送。", update.id)


def _outcome(metric: str, value: float, unit: str) -> Outcome:
    metric, unit = metric.strip(), unit.strip()
    if not metric or len(metric) > 100:
        raise DomainError("量化成果的指标须填写，且不超过100字。", "outcomes")
    if value < 0 or value > 1e12:
        raise DomainError(f"“{metric}”的数值无效。", "outcomes")
    if len(unit) > 20:
        raise DomainError(f"“{metric}”的单位过长。", "outcomes")
    return Outcome(metric=metric, value=value, unit=unit)


def _submit(session, task, user, request, today, now) -> str:
    _move(task, Action.SUBMIT)
    _note(session, task, user, "submit", request.text, now)
    return "已申请办结，等待督办人员审核。"


def _approve(session, task, user, request, today, now) -> str:
    _move(task, Action.APPROVE)
    task.closed_at = now
    _note(session, task, user, "approve", request.text, now)
    return "已审核通过，任务办结。"


def _return(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "退回")
    _move(task, Action.RETURN)
    _note(session, task, user, "return", reason, now)
    return "已退回，任务回到办理中。"


def _request_extension(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "延期")
    if request.new_deadline is None:
        raise DomainError("请填写延期后的时限。", "new_deadline")
    lifecycle.check_extension(task.deadline, request.new_deadline, today)
    session.add(ExtensionRequest(
        task_id=task.id, requested_by_id=user.id, old_deadline=task.deadline,
        new_deadline=request.new_deadline, reason=reason, created_at=now,
    ))  # fmt: skip
    return "延期申请已提交，等待审批。"


def _decide_extension(session, task, user, request, today, now) -> str:
    pending = pending_extension(session, task.id)
    assert pending is not None  # lifecycle.check made sure
    pending.status = "approved" if request.approve else "refused"
    pending.decided_by_id, pending.decided_at = user.id, now
    pending.decision_note = request.reason.strip()
    session.add(pending)
    if not request.approve:
        return "已不同意延期，时限不变。"
    session.add(DeadlineChange(
        task_id=task.id, kind="extension", old_deadline=task.deadline,
        new_deadline=pending.new_deadline, reason=pending.reason, changed_by_id=user.id,
        changed_at=now,
    ))  # fmt: skip
    task.deadline = pending.new_deadline
    return "已同意延期。"


def _extend(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "调整时限")
    if request.new_deadline is None:
        raise DomainError("请填写新的时限。", "new_deadline")
    lifecycle.check_extension(task.deadline, request.new_deadline, today)
    session.add(DeadlineChange(
        task_id=task.id, kind="extension", old_deadline=task.deadline,
        new_deadline=request.new_deadline, reason=reason, changed_by_id=user.id, changed_at=now,
    ))  # fmt: skip
    task.deadline = request.new_deadline
    return "时限已调整。"


def _reassign(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "重新交办")
    office = session.get(Office, request.office_id) if request.office_id else None
    if office is None or not office.is_active:
        raise DomainError("请选择有效的牵头单位。", "office_id")
    owner = session.get(User, request.owner_id) if request.owner_id else None
    if request.owner_id and (owner is None or owner.office_id != office.id or not owner.is_active):
        raise DomainError("责任人须为牵头单位的在用账号。", "owner_id")
    task.lead_office_id = office.id
    task.owner_id = owner.id if owner else office.head_id
    task.cooperating_offices = [
        o for o in session.exec(select(Office).where(Office.id.in_(request.cooperating)))
        if o.id != office.id
    ]  # fmt: skip
    _move(task, Action.REASSIGN)
    _note(session, task, user, "reassign", reason, now)
    return f"已重新交办给{office.name}。"


def _cancel(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "撤销")
    _move(task, Action.CANCEL)
    _note(session, task, user, "cancel", reason, now)
    return "任务已撤销。"


def _reopen(session, task, user, request, today, now) -> str:
    reason = lifecycle.ensure_reason(request.reason, "重新打开")
    _move(task, Action.REOPEN)
    task.closed_at = None
    _note(session, task, user, "reopen", reason, now)
    return "任务已重新打开。"


def _comment(session, task, user, request, today, now) -> str:
    if not request.text.strip():
        raise DomainError("请填写内容。", "text")
    _note(session, task, user, "comment", request.text, now)
    return "已发表。"


def _urge(session, task, user, request, today, now) -> str:
    _note(session, task, user, "urge", request.text or "请抓紧办理。", now)
    return "已督促。"


_HANDLERS = {
    Action.ACCEPT: _accept, Action.UPDATE: _update, Action.SUBMIT: _submit,
    Action.APPROVE: _approve, Action.RETURN: _return,
    Action.REQUEST_EXTENSION: _request_extension, Action.DECIDE_EXTENSION: _decide_extension,
    Action.EXTEND: _extend,
    Action.REASSIGN: _reassign, Action.CANCEL: _cancel, Action.REOPEN: _reopen,
    Action.COMMENT: _comment, Action.URGE: _urge,
}  # fmt: skip


# -- the task page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkResult:
    done: int
    refused: list[tuple[str, str]]  # (task title, why)


def perform_bulk(
    session: Session, *, tasks: list[Task], user: User, action: Action, request: Request,
    today: date, now: datetime, ip: str | None = None,
) -> BulkResult:  # fmt: skip
    """ACTION on each of TASKS; a task that refuses is skipped (and named), the rest go ahead."""
    done, refused = 0, []
    for task in tasks:
        try:
            with session.begin_nested():
                perform(session, task=task, user=user, action=action, request=request,
                        today=today, now=now, ip=ip)  # fmt: skip
            done += 1
        except DomainError as error:
            refused.append((task.title, error.message))
    return BulkResult(done, refused)


def return_reason(session: Session, task: Task) -> str | None:
    """Why the task was sent back, while the office has not yet submitted it again."""
    if task.status != TaskStatus.IN_PROGRESS:
        return None
    latest = session.exec(
        select(TaskComment)
        .where(TaskComment.task_id == task.id, TaskComment.kind.in_(["return", "submit"]))
        .order_by(TaskComment.created_at.desc(), TaskComment.id.desc())
    ).first()
    return latest.text if latest is not None and latest.kind == "return" else None
