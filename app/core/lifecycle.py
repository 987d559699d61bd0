"""The task states. (The transitions between them arrive with the task workflow.)"""

from __future__ import annotations

from enum import StrEnum


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
