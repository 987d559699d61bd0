import pytest

from app.core.roles import (
    ROLE_LABELS,
    Permission,
    Role,
    has_permission,
    parse_roles,
    permissions_of,
    role_problems,
)

P = Permission


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        # 系统管理员: users, offices and rules, the reminder policy and the notification log.
        (Role.ADMIN, {P.MANAGE_USERS, P.VIEW_NOTIFICATIONS, P.MANAGE_NOTIFICATIONS},
         {P.MANAGE_CALENDAR, P.MANAGE_SECURITY, P.VIEW_ALL_TASKS, P.VIEW_AUDIT, P.VIEW_REPORTS}),
        # 安全管理员: the security policies and unlocking, the holiday calendar.
        (Role.SECURITY, {P.MANAGE_SECURITY, P.MANAGE_CALENDAR},
         {P.MANAGE_USERS, P.VIEW_AUDIT, P.VIEW_NOTIFICATIONS, P.MANAGE_NOTIFICATIONS,
          P.VIEW_ALL_TASKS, P.VIEW_OWN_OFFICE_TASKS, P.VIEW_REPORTS}),
        # 安全审计员: the audit trail, read-only.
        (Role.AUDITOR, {P.VIEW_AUDIT},
         {P.VIEW_ALL_TASKS, P.VIEW_OWN_OFFICE_TASKS, P.VIEW_REPORTS, P.MANAGE_USERS,
          P.MANAGE_SECURITY, P.MANAGE_CALENDAR, P.VIEW_NOTIFICATIONS}),
        (Role.COORDINATOR, {P.VIEW_ALL_TASKS, P.MANAGE_TASKS, P.MANAGE_REPORTS,
                            P.VIEW_NOTIFICATIONS},
         {P.MANAGE_USERS, P.VIEW_AUDIT, P.MANAGE_CALENDAR, P.MANAGE_NOTIFICATIONS,
          P.MANAGE_SECURITY}),
        (Role.OFFICE, {P.VIEW_OWN_OFFICE_TASKS},
         {P.VIEW_ALL_TASKS, P.MANAGE_TASKS, P.VIEW_NOTIFICATIONS}),
        (Role.LEADER, {P.VIEW_ALL_TASKS, P.COMMENT_TASKS, P.VIEW_REVIEW},
         {P.MANAGE_TASKS, P.MANAGE_REPORTS, P.MANAGE_USERS, P.MANAGE_CALENDAR,
          P.VIEW_NOTIFICATIONS}),
    ],
)  # fmt: skip
def test_each_role_grants_exactly_its_duties(role, allowed, denied) -> None:
    for permission in allowed:
        assert has_permission([role], permission)
    for permission in denied:
        assert not has_permission([role], permission)


def test_permissions_combine_across_roles() -> None:
    combined = permissions_of([Role.OFFICE, Role.LEADER])
    assert P.VIEW_OWN_OFFICE_TASKS in combined and P.VIEW_ALL_TASKS in combined


def test_no_roles_grant_nothing() -> None:
    assert permissions_of([]) == frozenset()


def test_parse_roles_ignores_unknown_names() -> None:
    assert parse_roles(["office", "superuser", "leader"]) == {Role.OFFICE, Role.LEADER}


@pytest.mark.parametrize(
    ("roles", "has_office", "expected"),
    [
        ({Role.OFFICE}, True, []),
        ({Role.OFFICE}, False, ["科室人员必须属于一个科室。"]),
        (set(), False, ["请至少选择一个角色。"]),
        ({Role.COORDINATOR, Role.LEADER}, False, []),
        ({Role.ADMIN}, False, []),
        ({Role.SECURITY}, False, []),
        ({Role.AUDITOR}, False, []),
        ({Role.ADMIN, Role.AUDITOR}, False,
         ["系统管理员与安全审计员不能由同一账号担任（三员分立）。"]),
        ({Role.ADMIN, Role.SECURITY}, False,
         ["系统管理员与安全管理员不能由同一账号担任（三员分立）。"]),
        ({Role.SECURITY, Role.AUDITOR}, False,
         ["安全管理员与安全审计员不能由同一账号担任（三员分立）。"]),
        ({Role.ADMIN, Role.SECURITY, Role.AUDITOR}, False,
         ["系统管理员与安全管理员与安全审计员不能由同一账号担任（三员分立）。"]),
        ({Role.ADMIN, Role.COORDINATOR}, False,
         ["系统管理员不能同时担任业务角色（督办协调员）：三员账号只做管理。"]),
        ({Role.SECURITY, Role.LEADER}, False,
         ["安全管理员不能同时担任业务角色（分管领导）：三员账号只做管理。"]),
        ({Role.AUDITOR, Role.OFFICE}, True,
         ["安全审计员不能同时担任业务角色（科室人员）：三员账号只做管理。"]),
    ],
)  # fmt: skip
def test_role_problems(roles, has_office, expected) -> None:
    assert role_problems(roles, has_office) == expected


def test_no_two_administrator_roles_and_no_business_role_beside_one() -> None:
    admin_roles = [Role.ADMIN, Role.SECURITY, Role.AUDITOR]
    for first in admin_roles:
        for second in Role:
            if second != first:
                assert role_problems({first, second}, True), (first, second)


def test_the_three_administrators_have_no_permission_in_common() -> None:
    admin, security, auditor = (permissions_of([r]) for r in (Role.ADMIN, Role.SECURITY,
                                                              Role.AUDITOR))  # fmt: skip
    assert not (admin & security) and not (admin & auditor) and not (security & auditor)


def test_the_labels_name_the_three_administrators() -> None:
    assert [ROLE_LABELS[r] for r in (Role.ADMIN, Role.SECURITY, Role.AUDITOR)] == [
        "系统管理员", "安全管理员", "安全审计员",
    ]  # fmt: skip
