"""Each role reaches exactly its pages; an office sees only its own office's tasks."""

from __future__ import annotations

import pytest

from app.core.roles import Role
from tests.conftest import login
from tests.factories import World

LOGINS = {
    Role.ADMIN: "admin1", Role.SECURITY: "security1", Role.AUDITOR: "auditor1",
    Role.COORDINATOR: "coord1", Role.OFFICE: "staff_a", Role.LEADER: "leader1",
}  # fmt: skip

# page -> the roles that may open it; every other role gets 403.
PAGES = {
    "/tasks/": {Role.COORDINATOR, Role.LEADER},
    "/tasks/mine": {Role.OFFICE},
    "/reports/": {Role.COORDINATOR, Role.LEADER},
    "/review/": {Role.COORDINATOR, Role.LEADER},
    # The system administrator edits accounts; the security administrator sees them to unlock.
    "/admin/users": {Role.ADMIN, Role.SECURITY},
    "/admin/users/new": {Role.ADMIN},
    "/admin/offices": {Role.ADMIN},
    "/admin/offices/new": {Role.ADMIN},
    "/admin/rules": {Role.ADMIN},
    "/admin/settings/reminders": {Role.ADMIN},
    "/admin/notifications": {Role.ADMIN, Role.COORDINATOR},
    "/admin/security": {Role.SECURITY},
    "/admin/calendar/": {Role.SECURITY},
    "/audit/": {Role.AUDITOR},
}

HOME = {
    Role.ADMIN: "/admin/users", Role.SECURITY: "/admin/security", Role.AUDITOR: "/audit/",
    Role.COORDINATOR: "/tasks/", Role.OFFICE: "/tasks/mine", Role.LEADER: "/tasks/",
}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_its_pages(client, world: World, role: Role) -> None:
    login(client, LOGINS[role])
    for page, allowed in PAGES.items():
        expected = 200 if role in allowed else 403
        assert client.get(page).status_code == expected, (role, page)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_starts_on_its_own_page(client, world: World, role: Role) -> None:
    login(client, LOGINS[role])
    assert client.get("/").headers["Location"] == HOME[role]


@pytest.mark.parametrize("role", list(Role))
def test_navigation_shows_only_reachable_sections(client, world: World, role: Role) -> None:
    login(client, LOGINS[role])
    html = client.get(HOME[role]).text
    sections = [("全部任务", "/tasks/", PAGES["/tasks/"]),
                ("我的任务", "/tasks/mine", PAGES["/tasks/mine"]),
                ("管理", "/admin/users", {Role.ADMIN}),
                ("安全管理", "/admin/security", PAGES["/admin/security"]),
                ("审计", "/audit/", PAGES["/audit/"])]  # fmt: skip
    for label, page, roles in sections:
        assert (f'href="{page}">{label}' in html) == (role in roles), (role, label)
    assert 'href="/password">我的账号' in html


def test_anonymous_users_reach_nothing(client, world: World) -> None:
    for page in [*PAGES, f"/tasks/{world.task_a.id}", "/reports/1"]:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_office_sees_its_led_and_cooperating_tasks_only(client, world: World) -> None:
    login(client, "staff_a")
    mine = client.get("/tasks/mine").text
    assert "甲科室的任务" in mine and "乙牵头甲配合的任务" in mine
    assert "乙科室的任务" not in mine
    assert client.get(f"/tasks/{world.task_a.id}").status_code == 200
    assert client.get(f"/tasks/{world.shared_task.id}").status_code == 200


def test_another_offices_task_is_not_found(client, world: World) -> None:
    login(client, "staff_a")
    assert client.get(f"/tasks/{world.task_b.id}").status_code == 404
    assert client.get("/tasks/999999").status_code == 404


def test_the_other_office_sees_its_own(client, world: World) -> None:
    login(client, "staff_b")
    assert client.get(f"/tasks/{world.task_b.id}").status_code == 200
    assert client.get(f"/tasks/{world.task_a.id}").status_code == 404


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.LEADER])
def test_coordinators_and_leaders_see_every_task(client, world: World, role: Role) -> None:
    login(client, LOGINS[role])
    for task in (world.task_a, world.task_b, world.shared_task):
        assert client.get(f"/tasks/{task.id}").status_code == 200


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SECURITY, Role.AUDITOR])
def test_admins_and_auditors_see_no_task_content(client, world: World, role: Role) -> None:
    login(client, LOGINS[role])
    response = client.get(f"/tasks/{world.task_a.id}")
    assert response.status_code == 403
    assert "甲科室的任务" not in response.text


def test_an_office_user_without_an_office_sees_nothing(client, world: World, db) -> None:
    from app.models import User

    user = db.get(User, world.users[Role.OFFICE].id)
    login(client, "staff_a")
    user.office_id = None
    db.commit()
    assert client.get(f"/tasks/{world.task_a.id}").status_code == 404
    assert "甲科室的任务" not in client.get("/tasks/mine").text
