"""Sign-in, sign-out, throttling, revocation and the `next` parameter, through the real pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.clock import utcnow
from app.core.roles import Role
from app.models import AuditEvent, User
from tests.conftest import login, reread
from tests.factories import PASSWORD, World


def actions(db: Session) -> list[str]:
    reread(db)
    return [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_login_page_is_chinese(client) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "用户名" in page.text and "密码" in page.text and 'lang="zh-CN"' in page.text


def test_anonymous_users_are_sent_to_login_with_next(client) -> None:
    response = client.get("/tasks/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_and_logout(client, world: World, db: Session) -> None:
    response = login(client, "coord1")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/tasks/").status_code == 200
    assert client.get("/logout").status_code == 405  # logging out is a POST with a CSRF token
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert client.get("/tasks/").status_code == 302
    assert actions(db)[-2:] == ["login", "logout"]
    assert db.get(User, world.users[Role.COORDINATOR].id).last_login_at is not None


def test_login_is_case_insensitive_on_the_name(client, world: World) -> None:
    assert login(client, "COORD1").headers["Location"] == "/"


@pytest.mark.parametrize(("name", "password"), [("coord1", "Wrong-pass-1"), ("nobody", PASSWORD)])
def test_bad_credentials_get_one_message(client, world: World, db: Session, name, password) -> None:
    response = login(client, name, password)
    assert response.status_code == 200
    assert "用户名或密码错误。" in response.text
    assert client.get("/tasks/").status_code == 302
    assert actions(db)[-1] in {"login.failed", "login.unknown_user"}


def test_five_failures_lock_the_account(client, world: World, db: Session) -> None:
    for _ in range(4):
        assert "用户名或密码错误" in login(client, "coord1", "Wrong-pass-1").text
    assert "账号已锁定15分钟" in login(client, "coord1", "Wrong-pass-1").text
    # Even the right password is refused while locked.
    assert "已锁定至" in login(client, "coord1").text
    assert client.get("/tasks/").status_code == 302
    assert "login.lockout" in actions(db) and actions(db)[-1] == "login.locked"


def test_the_lock_ends_after_its_time(client, world: World, db: Session) -> None:
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.commit()
    assert login(client, "coord1").headers["Location"] == "/"


def test_inactive_accounts_cannot_sign_in(client, world: World, db: Session) -> None:
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.is_active = False
    db.commit()
    assert "已停用" in login(client, "coord1").text


def test_bumping_the_session_version_ends_open_sessions(client, world: World, db: Session) -> None:
    login(client, "coord1")
    assert client.get("/tasks/").status_code == 200
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.session_version += 1
    db.commit()
    assert client.get("/tasks/").status_code == 302


def test_deactivation_ends_open_sessions(client, world: World, db: Session) -> None:
    login(client, "coord1")
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.is_active = False
    db.commit()
    assert client.get("/tasks/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/tasks/?status=assigned", "/tasks/?status=assigned"), ("https://evil.example/", "/"),
     ("//evil.example/x", "/"), ("/\\evil.example", "/")],
)  # fmt: skip
def test_next_is_followed_only_within_the_site(client, world: World, target, expected) -> None:
    response = client.post("/login", data={"login": "coord1", "password": PASSWORD, "next": target})
    assert response.headers["Location"] == expected


def test_a_signed_in_user_visiting_login_goes_home(client, world: World) -> None:
    login(client, "coord1")
    assert client.get("/login").headers["Location"] == "/"


def test_session_cookie_flags(client, world: World) -> None:
    response = login(client, "coord1")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "remember_token" not in response.headers.get_all("Set-Cookie").__str__()


def test_a_new_session_is_issued_at_login(client, world: World) -> None:
    client.get("/login")
    before = client.get_cookie("session")
    login(client, "coord1")
    after = client.get_cookie("session")
    assert after is not None and (before is None or before.value != after.value)


def test_security_headers(client) -> None:
    headers = client.get("/login").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
