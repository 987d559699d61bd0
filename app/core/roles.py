"""Roles and what each may do: the one place where access rules are written down."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # 系统管理员
    SECURITY = "security"  # 安全管理员
    AUDITOR = "auditor"  # 安全审计员
    COORDINATOR = "coordinator"
    OFFICE = "office"
    LEADER = "leader"


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "系统管理员",
    Role.SECURITY: "安全管理员",
    Role.AUDITOR: "安全审计员",
    Role.COORDINATOR: "督办协调员",
    Role.OFFICE: "科室人员",
    Role.LEADER: "分管领导",
}

# 三员分立 (等保2.0): the system, security and audit administrators are three different
# accounts, and none of them does business work.
ADMIN_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.SECURITY, Role.AUDITOR)
BUSINESS_ROLES: tuple[Role, ...] = (Role.COORDINATOR, Role.OFFICE, Role.LEADER)


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
    MANAGE_SECURITY = "manage_security"  # 安全策略: the policies page, unlocking accounts
    VIEW_NOTIFICATIONS = "view_notifications"  # 通知记录: read and filter what was sent
    MANAGE_NOTIFICATIONS = "manage_notifications"  # resend, edit the reminder policy


_GRANTS: dict[Role, frozenset[Permission]] = {
    # 系统管理员: accounts, offices and their rules, the reminder policy and the notification
    # log (通知记录); never the business content, the security policies or the audit trail.
    Role.ADMIN: frozenset(
        {
            Permission.MANAGE_USERS,
            Permission.VIEW_NOTIFICATIONS,
            Permission.MANAGE_NOTIFICATIONS,
        }
    ),
    # 安全管理员: the security policies, unlocking accounts and addresses, and the working-day
    # calendar (deadlines and reminders are computed on it).
    Role.SECURITY: frozenset({Permission.MANAGE_SECURITY, Permission.MANAGE_CALENDAR}),
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
    # 安全审计员: the audit trail, read-only, and no task content.
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
    admin_roles = [r for r in ADMIN_ROLES if r in roles]
    business_roles = [r for r in BUSINESS_ROLES if r in roles]
    if len(admin_roles) > 1:
        names = "与".join(ROLE_LABELS[r] for r in admin_roles)
        problems.append(f"{names}不能由同一账号担任（三员分立）。")
    elif admin_roles and business_roles:
        names = "、".join(ROLE_LABELS[r] for r in business_roles)
        problems.append(
            f"{ROLE_LABELS[admin_roles[0]]}不能同时担任业务角色（{names}）：三员账号只做管理。"
        )
    return problems
