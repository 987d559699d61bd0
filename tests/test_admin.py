"""管理: offices and users through the admin pages; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from app.core.roles import Role
from app.models import AuditEvent, Office, User
from tests.conftest import login, reread
from tests.factories import PASSWORD, World


def count(db: Session, model) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


def office_form(world: World, **overrides) -> dict:
    data = {"unit_id": world.unit.id, "name": "综合执法办", "short_name": "执法办",
            "kind": "section", "mailbox": "zfb@example.cn", "is_active": "y"}  # fmt: skip
    return {**data, **overrides}


def user_form(world: World, **overrides) -> dict:
    data = {"login": "newbie", "name": "新同事", "email": "newbie@example.cn",
            "office_id": str(world.office_a.id), "roles": ["office"], "is_active": "y",
            "password": "Fresh-pass-9"}  # fmt: skip
    return {**data, **overrides}


def test_admin_creates_and_edits_an_office(client, world: World, db: Session) -> None:
    login(client, "admin1")
    response = client.post("/admin/offices/new", data=office_form(world))
    assert response.headers["Location"] == "/admin/offices"
    office = db.exec(select(Office).where(Office.name == "综合执法办")).one()
    assert office.mailbox == "zfb@example.cn"
    reread(db)
    client.post(f"/admin/offices/{office.id}/edit", data=office_form(world, leader_name="刘军"))
    reread(db)
    assert db.get(Office, office.id).leader_name == "刘军"
    events = db.exec(select(AuditEvent).where(AuditEvent.object_type == "office")).all()
    assert [e.action for e in events] == ["office.create", "office.update"]
    assert events[1].before["leader_name"] is None and events[1].after["leader_name"] == "刘军"
    assert "综合执法办" in client.get("/admin/offices").text


def test_duplicate_office_name_is_explained_and_nothing_changes(client, world, db) -> None:
    login(client, "admin1")
    before = count(db, Office)
    response = client.post("/admin/offices/new", data=office_form(world, name="甲科室"))
    assert response.status_code == 200 and "本单位已有名为“甲科室”的科室" in response.text
    assert count(db, Office) == before


def test_bad_email_is_explained(client, world: World, db: Session) -> None:
    login(client, "admin1")
    response = client.post("/admin/offices/new", data=office_form(world, mailbox="not-an-email"))
    assert "邮箱格式不正确" in response.text
    assert db.exec(select(Office).where(Office.name == "综合执法办")).first() is None


def test_admin_creates_a_user_who_can_sign_in(client, world: World, db: Session) -> None:
    login(client, "admin1")
    response = client.post("/admin/users/new", data=user_form(world))
    assert response.headers["Location"] == "/admin/users"
    user = db.exec(select(User).where(User.login == "newbie")).one()
    assert user.roles == {Role.OFFICE} and user.office_id == world.office_a.id
    assert user.must_change_password is True
    assert user.password_hash.startswith("scrypt:")
    client.post("/logout")
    login(client, "newbie", "Fresh-pass-9")
    assert client.get("/").headers["Location"] == "/password"  # first sign-in: change it
    client.post("/password", data={"current_password": "Fresh-pass-9",
                                   "new_password": "Own-pass-2026",
                                   "confirm_password": "Own-pass-2026"})  # fmt: skip
    assert client.get("/").headers["Location"] == "/tasks/mine"


def test_weak_password_is_explained_and_nothing_is_created(client, world, db) -> None:
    login(client, "admin1")
    before = count(db, User)
    response = client.post("/admin/users/new", data=user_form(world, password="weak"))
    assert "密码至少8位" in response.text
    assert count(db, User) == before


def test_office_role_without_office_is_refused(client, world: World, db: Session) -> None:
    login(client, "admin1")
    response = client.post("/admin/users/new", data=user_form(world, office_id="None"))
    assert "科室人员必须属于一个科室" in response.text
    assert db.exec(select(User).where(User.login == "newbie")).first() is None


def test_duplicate_login_is_refused(client, world: World) -> None:
    login(client, "admin1")
    response = client.post("/admin/users/new", data=user_form(world, login="coord1"))
    assert "已被使用" in response.text


def test_unknown_office_choice_is_refused(client, world: World, db: Session) -> None:
    login(client, "admin1")
    response = client.post("/admin/users/new", data=user_form(world, office_id="99999"))
    assert response.status_code == 200
    assert db.exec(select(User).where(User.login == "newbie")).first() is None


def test_deactivating_a_user_ends_their_session(client, world: World, app, db) -> None:
    other = app.test_client()
    login(other, "coord1")
    assert other.get("/tasks/").status_code == 200
    login(client, "admin1")
    coord = world.users[Role.COORDINATOR]
    data = user_form(world, login="coord1", name="协调员", office_id="None", roles=["coordinator"],
                     password="")  # fmt: skip
    del data["is_active"]
    response = client.post(f"/admin/users/{coord.id}/edit", data=data)
    assert response.headers["Location"] == "/admin/users"
    assert other.get("/tasks/").status_code == 302
    reread(db)
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "user.update")).one()
    assert event.before["is_active"] is True and event.after["is_active"] is False


def test_admin_cannot_deactivate_themselves(client, world: World) -> None:
    login(client, "admin1")
    admin = world.users[Role.ADMIN]
    data = user_form(world, login="admin1", office_id="None", roles=["admin"], password="")
    del data["is_active"]
    response = client.post(f"/admin/users/{admin.id}/edit", data=data)
    assert "不能停用自己的账号" in response.text


def test_resetting_a_password_forces_a_change_and_ends_sessions(client, world, app, db) -> None:
    other = app.test_client()
    login(other, "leader1")
    login(client, "admin1")
    leader = world.users[Role.LEADER]
    data = user_form(world, login="leader1", office_id="None", roles=["leader"],
                     password="Reset-pass-7")  # fmt: skip
    client.post(f"/admin/users/{leader.id}/edit", data=data)
    assert other.get("/tasks/").status_code == 302
    assert "用户名或密码错误" in login(app.test_client(), "leader1", PASSWORD).text
    assert login(app.test_client(), "leader1", "Reset-pass-7").headers["Location"] == "/"


def test_admin_and_auditor_roles_cannot_be_combined(client, world: World) -> None:
    login(client, "admin1")
    data = user_form(world, office_id="None", roles=["admin", "auditor"])
    assert "不能由同一账号担任" in client.post("/admin/users/new", data=data).text


def test_editing_an_unknown_record_is_not_found(client, world: World) -> None:
    login(client, "admin1")
    assert client.get("/admin/users/99999/edit").status_code == 404
    assert client.get("/admin/offices/99999/edit").status_code == 404


@pytest.mark.parametrize("target", ["security1", "auditor1"])
def test_the_system_admin_cannot_take_over_another_administrator(client, world, app, db,
                                                                 target: str) -> None:  # fmt: skip
    """三员分立: resetting the security or audit admin's password would let the system admin
    sign in as them. Refused with the way it is done instead; nothing changes."""
    from sqlmodel import select

    from app.models import User

    account = db.exec(select(User).where(User.login == target)).one()
    before = (account.password_hash, account.session_version)
    login(client, "admin1")
    roles = ["security"] if target == "security1" else ["auditor"]
    data = user_form(world, login=target, office_id="None", roles=roles, password="Takeover-7x")
    response = client.post(f"/admin/users/{account.id}/edit", data=data)
    assert response.status_code == 200 and "flask users reset-password" in response.text
    db.refresh(account)
    assert (account.password_hash, account.session_version) == before
    assert "用户名或密码错误" in login(app.test_client(), target, "Takeover-7x").text
