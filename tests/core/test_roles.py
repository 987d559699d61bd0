import pytest

from app.core.roles import (
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
        (Role.ADMIN, {P.MANAGE_USERS, P.MANAGE_CALENDAR, P.VIEW_NOTIFICATIONS,
                      P.MANAGE_NOTIFICATIONS},
         {P.VIEW_ALL_TASKS, P.VIEW_AUDIT, P.VIEW_REPORTS}),
        (Role.COORDINATOR, {P.VIEW_ALL_TASKS, P.MANAGE_TASKS, P.MANAGE_REPORTS,
                            P.VIEW_NOTIFICATIONS},
         {P.MANAGE_USERS, P.VIEW_AUDIT, P.MANAGE_CALENDAR, P.MANAGE_NOTIFICATIONS}),
        (Role.OFFICE, {P.VIEW_OWN_OFFICE_TASKS},
         {P.VIEW_ALL_TASKS, P.MANAGE_TASKS, P.VIEW_NOTIFICATIONS}),
        (Role.LEADER, {P.VIEW_ALL_TASKS, P.COMMENT_TASKS, P.VIEW_REVIEW},
         {P.MANAGE_TASKS, P.MANAGE_REPORTS, P.MANAGE_USERS, P.MANAGE_CALENDAR,
          P.VIEW_NOTIFICATIONS}),
        (Role.AUDITOR, {P.VIEW_AUDIT},
         {P.VIEW_ALL_TASKS, P.VIEW_OWN_OFFICE_TASKS, P.VIEW_REPORTS, P.MANAGE_USERS,
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
        ({Role.ADMIN, Role.AUDITOR}, False, ["系统管理员与审计员不能由同一账号担任。"]),
        ({Role.COORDINATOR, Role.LEADER}, False, []),
    ],
)
def test_role_problems(roles, has_office, expected) -> None:
    assert role_problems(roles, has_office) == expected
