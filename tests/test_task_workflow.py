"""The workflow service on real databases: each action, its audit trail, and its refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.lifecycle import Action, TaskStatus
from app.core.roles import Role
from app.models import AuditEvent, DeadlineChange, ExtensionRequest, Outcome, Task, TaskComment
from app.services.task_workflow import Request, allowed_actions, perform
from tests.factories import World

TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def act(db: Session, task: Task, user, action: Action, **fields):
    result = perform(db, task=task, user=user, action=action, request=Request(**fields),
                     today=TODAY, now=NOW)  # fmt: skip
    db.commit()
    return result


def test_the_whole_cycle(db: Session, world: World) -> None:
    staff, coordinator = world.users[Role.OFFICE], world.users[Role.COORDINATOR]
    task = world.task_a
    act(db, task, staff, Action.ACCEPT)
    assert task.status == TaskStatus.IN_PROGRESS and task.owner_id == staff.id
    with pytest.raises(DomainError, match="请先报送进展"):
        act(db, task, staff, Action.SUBMIT)
    db.rollback()
    result = act(db, task, staff, Action.UPDATE, text="开展普法宣传",
                 outcomes=[("开展普法宣传", 12, "次")])  # fmt: skip
    assert result.update_id and db.exec(select(Outcome)).one().value == 12
    act(db, task, staff, Action.SUBMIT, text="已完成")
    assert task.status == TaskStatus.SUBMITTED
    act(db, task, coordinator, Action.RETURN, reason="佐证材料不全")
    assert task.status == TaskStatus.IN_PROGRESS
    act(db, task, staff, Action.SUBMIT)
    act(db, task, coordinator, Action.APPROVE)
    assert task.status == TaskStatus.CLOSED and task.closed_at == NOW
    kinds = [c.kind for c in db.exec(select(TaskComment).order_by(TaskComment.id))]
    assert kinds == ["submit", "return"]
    actions = [
        e.action for e in db.exec(select(AuditEvent).where(AuditEvent.object_type == "task"))
    ]
    assert actions == ["task.accept", "task.update", "task.submit", "task.return", "task.submit",
                       "task.approve"]  # fmt: skip
    last = db.exec(select(AuditEvent).where(AuditEvent.action == "task.approve")).one()
    assert last.before["status"] == "submitted" and last.after["status"] == "closed"


def test_return_needs_a_reason(db: Session, world: World) -> None:
    task = world.task_a
    task.status = TaskStatus.SUBMITTED.value
    db.commit()
    with pytest.raises(DomainError, match="请填写退回理由"):
        act(db, task, world.users[Role.COORDINATOR], Action.RETURN, reason="  ")


def test_extension_request_and_approval(db: Session, world: World) -> None:
    staff, coordinator = world.users[Role.OFFICE], world.users[Role.COORDINATOR]
    task = world.task_a
    with pytest.raises(DomainError, match="晚于当前时限"):
        act(db, task, staff, Action.REQUEST_EXTENSION, reason="工作量大",
            new_deadline=date(2026, 12, 1))  # fmt: skip
    db.rollback()
    act(
        db, task, staff, Action.REQUEST_EXTENSION, reason="工作量大", new_deadline=date(2027, 3, 31)
    )
    assert Action.REQUEST_EXTENSION not in allowed_actions(db, task, staff, TODAY)
    assert Action.DECIDE_EXTENSION in allowed_actions(db, task, coordinator, TODAY)
    act(db, task, coordinator, Action.DECIDE_EXTENSION, approve=True, reason="同意")
    assert task.deadline == date(2027, 3, 31)
    change = db.exec(select(DeadlineChange).where(DeadlineChange.kind == "extension")).one()
    assert (change.old_deadline, change.new_deadline) == (date(2026, 12, 31), date(2027, 3, 31))
    assert db.exec(select(ExtensionRequest)).one().status == "approved"


def test_refused_extension_keeps_the_deadline(db: Session, world: World) -> None:
    staff, coordinator = world.users[Role.OFFICE], world.users[Role.COORDINATOR]
    task = world.task_a
    act(db, task, staff, Action.REQUEST_EXTENSION, reason="人手不足", new_deadline=date(2027, 2, 1))
    act(db, task, coordinator, Action.DECIDE_EXTENSION, approve=False, reason="请按期完成")
    assert task.deadline == date(2026, 12, 31)
    assert db.exec(select(ExtensionRequest)).one().status == "refused"
    assert db.exec(select(DeadlineChange)).all() == []


def test_a_stale_version_is_refused_and_nothing_is_lost(db: Session, world: World) -> None:
    staff, coordinator = world.users[Role.OFFICE], world.users[Role.COORDINATOR]
    task = world.task_a
    seen = task.version
    act(db, task, coordinator, Action.CANCEL, reason="合并到其他任务", version=seen)
    with pytest.raises(DomainError, match="已被他人修改"):
        act(db, task, coordinator, Action.REOPEN, reason="误操作", version=seen)
    db.rollback()
    assert db.get(Task, task.id).status == TaskStatus.CANCELLED
    with pytest.raises(DomainError, match="不能签收"):
        act(db, task, staff, Action.ACCEPT)


def test_reassign_moves_the_task_to_the_new_office(db: Session, world: World) -> None:
    coordinator = world.users[Role.COORDINATOR]
    task = world.task_a
    act(db, task, coordinator, Action.REASSIGN, reason="职责调整", office_id=world.office_b.id,
        owner_id=world.office_b_user.id, cooperating=[world.office_a.id])  # fmt: skip
    assert (task.lead_office_id, task.owner_id) == (world.office_b.id, world.office_b_user.id)
    assert [o.id for o in task.cooperating_offices] == [world.office_a.id]
    assert task.status == TaskStatus.ASSIGNED
    with pytest.raises(DomainError, match="责任人须为牵头单位"):
        act(db, task, coordinator, Action.REASSIGN, reason="再调整", office_id=world.office_a.id,
            owner_id=world.office_b_user.id)  # fmt: skip


def test_leaders_comment_and_urge_but_change_nothing(db: Session, world: World) -> None:
    leader = world.users[Role.LEADER]
    task = world.task_a
    act(db, task, leader, Action.COMMENT, text="请加快进度")
    act(db, task, leader, Action.URGE)
    assert [c.kind for c in db.exec(select(TaskComment))] == ["comment", "urge"]
    for action in (Action.ACCEPT, Action.APPROVE, Action.CANCEL, Action.UPDATE):
        with pytest.raises(DomainError):
            act(db, task, leader, action, reason="x", text="x")
        db.rollback()
    assert db.get(Task, task.id).status == TaskStatus.ASSIGNED


def test_cooperating_offices_report_progress_but_do_not_submit(db: Session, world: World) -> None:
    staff_a, staff_b = world.users[Role.OFFICE], world.office_b_user
    task = world.shared_task  # led by B, A cooperates
    act(db, task, staff_b, Action.ACCEPT)
    act(db, task, staff_a, Action.UPDATE, text="配合开展宣传")
    with pytest.raises(DomainError, match="无权"):
        act(db, task, staff_a, Action.SUBMIT)


def test_bad_outcomes_write_nothing(db: Session, world: World) -> None:
    staff = world.users[Role.OFFICE]
    task = world.task_a
    act(db, task, staff, Action.ACCEPT)
    with pytest.raises(DomainError, match="指标须填写"):
        act(db, task, staff, Action.UPDATE, text="进展", outcomes=[("", 3, "次")])
    db.rollback()
    with pytest.raises(DomainError, match="数值无效"):
        act(db, task, staff, Action.UPDATE, text="进展", outcomes=[("宣传", -1, "次")])
    db.rollback()
    assert db.exec(select(Outcome)).all() == []
