"""Roles and what each may do: the one place where access rules are written down."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    OFFICE = "office"
    LEADER = "leader"
    AUDITOR = "auditor"


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "系统管理员",
    Role.COORDINATOR: "督办协调员",
    Role.OFFICE: "科室人员",
    Role.LEADER: "分管领导",
    Role.AUDITOR: "审计员",
}


class Permission(StrEnum):
    VIEW_OWN_OFFICE_TASKS = "view_own_office_tasks"
    VIEW_ALL_TASKS = "view_all_tasks"
    MANAGE_TASKS = "manage_tasks"
    COMMENT_TASKS = "comment_tasks"
    VIEW_REPORTS = "view_reports"
    MANAGE_REPORTS = "manage_reports"
    VIEW_REVIEW = "view_review"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    MANAGE_CALENDAR = "manage_calendar"
    VIEW_NOTIFICATIONS = "view_notifications"  # 通知记录: read and filter what was sent
    MANAGE_NOTIFICATIONS = "manage_notifications"  # resend, edit the reminder policy


_GRANTS: dict[Role, frozenset[Permission]] = {
    # Admins manage accounts and offices, never the business content (separation of duties).
    # The working-day calendar is reference data like accounts and offices, so it is theirs too.
    # So are the reminder policy and the notification log (通知记录).
    Role.ADMIN: frozenset(
        {
            Permission.MANAGE_USERS,
            Permission.MANAGE_CALENDAR,
            Permission.VIEW_NOTIFICATIONS,
            Permission.MANAGE_NOTIFICATIONS,
        }
    ),
    Role.COORDINATOR: frozenset(
        {
            Permission.VIEW_ALL_TASKS,
            Permission.MANAGE_TASKS,
            Permission.COMMENT_TASKS,
            Permission.VIEW_REPORTS,
            Permission.MANAGE_REPORTS,
            Permission.VIEW_REVIEW,
            Permission.VIEW_NOTIFICATIONS,
        }
    ),
    Role.OFFICE: frozenset({Permission.VIEW_OWN_OFFICE_TASKS}),
    # Leaders read everything and comment or urge; they change nothing else.
    Role.LEADER: frozenset(
        {
            Permission.VIEW_ALL_TASKS,
            Permission.COMMENT_TASKS,
            Permission.VIEW_REPORTS,
            Permission.VIEW_REVIEW,
        }
    ),
    # Auditors see the audit trail and no task content.
    Role.AUDITOR: frozenset({Permission.VIEW_AUDIT}),
}


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """The known roles among VALUES; unknown names are ignored."""
    known = {role.value for role in Role}
    return frozenset(Role(value) for value in values if value in known)


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Every permission granted by ROLES together."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= _GRANTS[role]
    return frozenset(granted)


def has_permission(roles: Iterable[Role], permission: Permission) -> bool:
    """Whether any of ROLES grants PERMISSION."""
    return permission in permissions_of(roles)


def role_problems(roles: Iterable[Role], has_office: bool) -> list[str]:
    """Why a set of roles cannot be given to one account (empty when it can)."""
    roles = frozenset(roles)
    problems: list[str] = []
    if not roles:
        problems.append("请至少选择一个角色。")
    if Role.OFFICE in roles and not has_office:
        problems.append("科室人员必须属于一个科室。")
    if Role.ADMIN in roles and Role.AUDITOR in roles:
        problems.append("系统管理员与审计员不能由同一账号担任。")
    return problems
