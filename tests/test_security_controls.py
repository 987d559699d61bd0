"""等保2.0 level 2 account and session controls through the real pages: the password policy,
forced changes, lockout per account and per source address, unlocking, session timeouts,
rotation and revocation, cookies, 三员分立 and the audit of denied access."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, func, select

from app import create_app
from app.access import LAST_SEEN, SIGNED_IN_AT
from app.clock import utcnow
from app.core.errors import DomainError
from app.core.roles import Role
from app.db import dispose
from app.models import AuditEvent, LoginThrottle, User
from app.services import users as user_service
from tests.conftest import login, reread
from tests.factories import PASSWORD, World, make_user

NEW_PASSWORD = "Brand-new-77"
OTHER_ADDRESS = {"REMOTE_ADDR": "10.0.0.9"}


def events(db: Session, action: str) -> list[AuditEvent]:
    reread(db)
    return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def user_named(db: Session, login_name: str) -> User:
    reread(db)
    return db.exec(select(User).where(User.login == login_name)).one()


def change_password(client: FlaskClient, current: str, new: str, repeat: str | None = None):
    return client.post(
        "/password",
        data={"current_password": current, "new_password": new,
              "confirm_password": new if repeat is None else repeat},
    )  # fmt: skip


def signed_in(client: FlaskClient) -> bool:
    return client.get("/about").status_code == 200


# -- 1. the password policy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [("Abc-123", "密码至少8位"), ("abcdefg123", "至少三类"), ("Newbie-2026", "不能包含用户名")],
)
def test_the_admin_form_enforces_the_password_policy(client, world, db, password, message) -> None:
    login(client, "admin1")
    data = {"login": "newbie", "name": "新同事", "office_id": str(world.office_a.id),
            "roles": ["office"], "is_active": "y", "password": password}  # fmt: skip
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 200 and message in response.text
    assert db.exec(select(User).where(User.login == "newbie")).first() is None


def test_passwords_are_stored_as_salted_scrypt_hashes(world: World, db: Session) -> None:
    first = make_user(db, "same1", Role.LEADER, password=NEW_PASSWORD)
    second = make_user(db, "same2", Role.LEADER, password=NEW_PASSWORD)
    assert first.password_hash.startswith("scrypt:") and NEW_PASSWORD not in first.password_hash
    assert first.password_hash != second.password_hash  # salted


# -- 2. forced password change -------------------------------------------------------------


def test_an_admin_created_account_must_change_its_password_first(client, world, db) -> None:
    login(client, "admin1")
    client.post("/admin/users/new", data={
        "login": "newbie", "name": "新同事", "office_id": str(world.office_a.id),
        "roles": ["office"], "is_active": "y", "password": "Initial-pass-1"})  # fmt: skip
    client.post("/logout")
    assert login(client, "newbie", "Initial-pass-1").headers["Location"] == "/"
    for page in ["/", "/tasks/mine", f"/tasks/{world.task_a.id}", "/about"]:
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/password", page
    page = client.get("/password")
    assert page.status_code == 200 and "须先修改密码" in page.text
    with client.get("/static/css/app.css") as styles:  # the page keeps its styles
        assert styles.status_code == 200
    # Posting elsewhere is held too.
    assert client.post(f"/tasks/{world.task_a.id}/accept").headers["Location"] == "/password"
    response = change_password(client, "Initial-pass-1", NEW_PASSWORD)
    assert response.headers["Location"] == "/"
    assert client.get("/tasks/mine").status_code == 200
    user = user_named(db, "newbie")
    assert user.must_change_password is False
    assert [e.actor_login for e in events(db, "password.change")] == ["newbie"]
    client.post("/logout")
    assert "用户名或密码错误" in login(client, "newbie", "Initial-pass-1").text
    assert login(client, "newbie", NEW_PASSWORD).headers["Location"] == "/"


def test_a_reset_password_must_be_changed_too(client, world: World, db: Session) -> None:
    login(client, "admin1")
    leader = world.users[Role.LEADER]
    client.post(f"/admin/users/{leader.id}/edit", data={
        "login": "leader1", "name": "领导", "office_id": "None", "roles": ["leader"],
        "is_active": "y", "password": "Reset-pass-7"})  # fmt: skip
    other = client.application.test_client()
    login(other, "leader1", "Reset-pass-7")
    assert other.get("/tasks/").headers["Location"] == "/password"


@pytest.mark.parametrize(("age_days", "forced"), [(89, False), (90, True), (400, True)])
def test_a_password_older_than_the_maximum_age_must_be_changed(
    client, world: World, db: Session, age_days: int, forced: bool
) -> None:
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.password_changed_at = utcnow() - timedelta(days=age_days, minutes=1)
    db.commit()
    login(client, "coord1")
    response = client.get("/tasks/")
    assert (response.headers.get("Location") == "/password") is forced
    if forced:
        assert "密码已超过90天未修改" in client.get("/password").text


def test_the_maximum_age_is_configurable(app: Flask, client, world: World, db: Session) -> None:
    user = db.get(User, world.users[Role.COORDINATOR].id)
    user.password_changed_at = utcnow() - timedelta(days=40)
    db.commit()
    app.config["PASSWORD_MAX_AGE_DAYS"] = 30
    login(client, "coord1")
    assert client.get("/tasks/").headers["Location"] == "/password"
    app.config["PASSWORD_MAX_AGE_DAYS"] = 0  # never expires
    assert client.get("/tasks/").status_code == 200


@pytest.mark.parametrize(
    ("current", "new", "repeat", "message"),
    [
        ("Wrong-pass-1", NEW_PASSWORD, None, "当前密码不正确"),
        (PASSWORD, NEW_PASSWORD, "Brand-new-78", "两次输入的新密码不一致"),
        (PASSWORD, "short", None, "密码至少8位"),
        (PASSWORD, "alllowercase1", None, "至少三类"),
        (PASSWORD, "Coord1-is-me", None, "不能包含用户名"),
        (PASSWORD, PASSWORD, None, "新密码不能与当前密码相同"),
        ("", NEW_PASSWORD, None, "此项为必填项"),
    ],
)
def test_a_bad_password_change_is_explained_and_changes_nothing(
    client, world: World, db: Session, current, new, repeat, message
) -> None:
    before = db.get(User, world.users[Role.COORDINATOR].id).password_hash
    login(client, "coord1")
    response = change_password(client, current, new, repeat)
    assert response.status_code == 200
    assert re.search(r'class="error" role="alert">[^<]*' + message, response.text)  # on its field
    user = user_named(db, "coord1")
    assert user.password_hash == before and user.session_version == 1
    assert events(db, "password.change") == []
    assert signed_in(client)


def test_a_password_change_ends_the_other_sessions_but_keeps_this_one(
    app: Flask, client, world: World, db: Session
) -> None:
    laptop, phone = client, app.test_client()
    login(laptop, "coord1")
    login(phone, "coord1")
    assert signed_in(laptop) and signed_in(phone)
    response = change_password(laptop, PASSWORD, NEW_PASSWORD)
    assert response.headers["Location"] == "/"
    assert signed_in(laptop)
    assert phone.get("/tasks/").status_code == 302 and not signed_in(phone)
    assert user_named(db, "coord1").session_version == 2


def test_guessing_the_current_password_locks_the_account_and_ends_the_session(
    client, world: World, db: Session
) -> None:
    login(client, "coord1")
    for _ in range(4):
        assert "当前密码不正确" in change_password(client, "Wrong-pass-1", NEW_PASSWORD).text
    response = change_password(client, "Wrong-pass-1", NEW_PASSWORD)
    assert response.headers["Location"] == "/login"
    assert not signed_in(client)
    assert "已锁定至" in login(client, "coord1").text
    assert len(events(db, "password.change_failed")) == 5 and events(db, "login.lockout")


# -- 3. lockout per account and per source address ------------------------------------------


def test_the_account_lockout_numbers_are_configurable(app: Flask, client, world, db) -> None:
    app.config.update(LOCKOUT_FAILURES=2, LOCKOUT_MINUTES=45)
    login(client, "coord1", "Wrong-pass-1")
    assert "账号已锁定45分钟" in login(client, "coord1", "Wrong-pass-1").text
    until = user_named(db, "coord1").locked_until
    assert timedelta(minutes=44) < until - utcnow() <= timedelta(minutes=45)


def test_failures_from_one_address_lock_it_for_every_account(
    app: Flask, client, world: World, db: Session
) -> None:
    app.config.update(LOCKOUT_ADDRESS_FAILURES=6, LOCKOUT_ADDRESS_MINUTES=15)
    # Spread over accounts (and an unknown name) so that no account reaches its own limit.
    for name in ["coord1", "leader1", "nobody", "staff_a", "auditor1"]:
        assert "用户名或密码错误" in login(client, name, "Wrong-pass-1").text
    response = login(client, "staff_b", "Wrong-pass-1")
    assert "本机地址登录失败次数过多，已暂停登录至" in response.text
    # Now even the right password of an account that never failed is refused from here ...
    assert "已暂停登录" in login(client, "admin1").text
    assert not signed_in(client)
    # ... but not from another address.
    other = app.test_client()
    other.environ_base.update(OTHER_ADDRESS)
    assert login(other, "admin1").headers["Location"] == "/"
    lockouts = events(db, "login.ip_lockout")
    assert len(lockouts) == 1 and lockouts[0].ip == "127.0.0.1"
    assert events(db, "login.ip_locked")[0].actor_login == "admin1"
    assert all(u.locked_until is None for u in db.exec(select(User)))


def test_address_failures_outside_the_window_do_not_add_up(app, client, world, db) -> None:
    app.config.update(LOCKOUT_ADDRESS_FAILURES=3, LOCKOUT_ADDRESS_WINDOW_MINUTES=15)
    login(client, "coord1", "Wrong-pass-1")
    login(client, "leader1", "Wrong-pass-1")
    row = db.get(LoginThrottle, "127.0.0.1")
    row.window_start = utcnow() - timedelta(minutes=16)
    db.commit()
    assert "用户名或密码错误" in login(client, "staff_a", "Wrong-pass-1").text
    assert login(client, "admin1").headers["Location"] == "/"


def test_the_address_lock_ends_after_its_time(app, client, world: World, db: Session) -> None:
    app.config.update(LOCKOUT_ADDRESS_FAILURES=2)
    login(client, "coord1", "Wrong-pass-1")
    login(client, "leader1", "Wrong-pass-1")
    reread(db)
    row = db.get(LoginThrottle, "127.0.0.1")
    assert row.locked_until is not None
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.commit()
    assert login(client, "coord1").headers["Location"] == "/"


def test_a_successful_login_does_not_reset_the_address_count(app, client, world, db) -> None:
    """Else one known account would let an address guess others' passwords for ever."""
    app.config.update(LOCKOUT_ADDRESS_FAILURES=3)
    login(client, "coord1", "Wrong-pass-1")
    login(client, "leader1", "Wrong-pass-1")
    login(client, "staff_a")
    client.post("/logout")
    assert "已暂停登录" in login(client, "auditor1", "Wrong-pass-1").text


def test_the_address_rule_can_be_switched_off(app, client, world: World, db: Session) -> None:
    app.config.update(LOCKOUT_ADDRESS_FAILURES=0)
    for name in ["coord1", "leader1", "staff_a", "auditor1", "nobody", "staff_b"] * 2:
        login(client, name, "Wrong-pass-1")
    assert login(client, "admin1").headers["Location"] == "/"
    assert db.exec(select(func.count()).select_from(LoginThrottle)).one() == 0


def lock(client: FlaskClient, name: str) -> None:
    for _ in range(5):
        login(client, name, "Wrong-pass-1")


def test_the_security_admin_sees_locked_accounts_and_unlocks_them(
    app: Flask, client, world: World, db: Session
) -> None:
    outsider = app.test_client()
    outsider.environ_base.update(OTHER_ADDRESS)
    lock(outsider, "coord1")
    login(client, "security1")
    users_page = client.get("/admin/users").text
    assert "已锁定" in users_page and "解除锁定" in users_page
    assert "新建用户" not in users_page and "/edit" not in users_page  # seeing is not editing
    assert "coord1" in client.get("/admin/security").text
    coord = world.users[Role.COORDINATOR]
    response = client.post(f"/admin/users/{coord.id}/unlock", data={"back": "users"})
    assert response.headers["Location"] == "/admin/users"
    user = user_named(db, "coord1")
    assert user.locked_until is None and user.failed_logins == 0
    event = events(db, "user.unlock")[0]
    assert event.actor_login == "security1" and event.object_id == coord.id
    assert event.before["locked_until"] is not None
    assert login(outsider, "coord1").headers["Location"] == "/"


def test_unlocking_an_account_that_is_not_locked_is_explained(client, world, db) -> None:
    login(client, "security1")
    response = client.post(f"/admin/users/{world.users[Role.LEADER].id}/unlock",
                           follow_redirects=True)  # fmt: skip
    assert "未被锁定" in response.text
    assert events(db, "user.unlock") == []


def test_the_security_admin_lifts_an_address_lock(app: Flask, client, world, db) -> None:
    app.config.update(LOCKOUT_ADDRESS_FAILURES=2)
    attacker = app.test_client()
    attacker.environ_base.update(OTHER_ADDRESS)
    login(attacker, "coord1", "Wrong-pass-1")
    login(attacker, "leader1", "Wrong-pass-1")
    login(client, "security1")
    assert "10.0.0.9" in client.get("/admin/security").text
    response = client.post("/admin/security/address/unlock", data={"address": "10.0.0.9"})
    assert response.headers["Location"] == "/admin/security"
    assert login(attacker, "coord1").headers["Location"] == "/"
    assert events(db, "login.ip_unlock")[0].before["address"] == "10.0.0.9"


def test_only_the_security_admin_may_unlock(client, world: World, db: Session) -> None:
    login(client, "admin1")
    coord = world.users[Role.COORDINATOR]
    assert client.post(f"/admin/users/{coord.id}/unlock").status_code == 403
    assert client.get("/admin/security").status_code == 403
    assert "解除锁定" not in client.get("/admin/users").text
    assert events(db, "user.unlock") == []


def test_the_security_page_lists_the_effective_settings(app: Flask, client, world) -> None:
    app.config.update(SESSION_IDLE_MINUTES=20, PASSWORD_MAX_AGE_DAYS=60)
    login(client, "security1")
    page = client.get("/admin/security").text
    for text in ["20分钟", "60天", "连续登录失败5次，锁定15分钟", "15分钟内登录失败20次", "12小时"]:
        assert text in page, text


# -- 4. sessions ----------------------------------------------------------------------------


def age_session(client: FlaskClient, *, signed_in: timedelta, seen: timedelta) -> None:
    now = int(time.time())
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = now - int(signed_in.total_seconds())
        session[LAST_SEEN] = now - int(seen.total_seconds())


def test_an_idle_session_times_out(client, world: World, db: Session) -> None:
    login(client, "coord1")
    age_session(client, signed_in=timedelta(hours=1), seen=timedelta(minutes=29))
    assert client.get("/tasks/").status_code == 200  # 29 minutes idle: still signed in
    age_session(client, signed_in=timedelta(hours=1), seen=timedelta(minutes=31))
    response = client.get("/tasks/?status=assigned")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/tasks/?status%3Dassigned"
    assert "登录已超时，请重新登录" in client.get(response.headers["Location"]).text
    assert not signed_in(client)
    event = events(db, "session.timeout")[0]
    assert event.actor_login == "coord1" and event.after["reason"] == "idle"


def test_each_request_keeps_the_session_alive(client, world: World) -> None:
    login(client, "coord1")
    age_session(client, signed_in=timedelta(hours=1), seen=timedelta(minutes=20))
    assert client.get("/tasks/").status_code == 200
    with client.session_transaction() as session:
        assert int(time.time()) - session[LAST_SEEN] < 5


def test_a_session_ends_at_its_absolute_limit_however_busy(client, world, db) -> None:
    login(client, "coord1")
    age_session(client, signed_in=timedelta(hours=12, seconds=1), seen=timedelta(seconds=5))
    response = client.get("/tasks/")
    assert response.headers["Location"].startswith("/login?next=")
    assert events(db, "session.timeout")[0].after["reason"] == "absolute"


def test_the_session_limits_are_configurable(app: Flask, client, world: World) -> None:
    app.config.update(SESSION_IDLE_MINUTES=5)
    login(client, "coord1")
    age_session(client, signed_in=timedelta(minutes=10), seen=timedelta(minutes=6))
    assert client.get("/tasks/").status_code == 302


def test_a_session_without_its_times_is_not_accepted(client, world: World) -> None:
    login(client, "coord1")
    with client.session_transaction() as session:
        del session[SIGNED_IN_AT]
    assert client.get("/tasks/").status_code == 302


def test_the_session_is_rotated_at_login(app: Flask, client, world: World) -> None:
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = client.get_cookie("session").value
    login(client, "coord1")
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
    # The cookie from before sign-in is still anonymous in anyone's hands.
    stranger = app.test_client()
    stranger.set_cookie("session", before)
    response = stranger.get("/tasks/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_signing_in_twice_gives_two_different_sessions(app: Flask, world: World) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, "coord1")
    login(second, "coord1")
    assert first.get_cookie("session").value != second.get_cookie("session").value


def test_logout_everywhere_ends_every_session(app: Flask, client, world, db) -> None:
    laptop, phone = client, app.test_client()
    login(laptop, "coord1")
    login(phone, "coord1")
    assert "退出全部登录" in laptop.get("/password").text
    response = laptop.post("/password/logout-all")
    assert response.headers["Location"] == "/login"
    assert not signed_in(laptop) and not signed_in(phone)
    assert events(db, "session.revoke_all")[0].actor_login == "coord1"
    assert login(phone, "coord1").headers["Location"] == "/"


def test_deactivation_ends_every_session(app: Flask, client, world: World, db) -> None:
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "leader1")
    login(phone, "leader1")
    login(client, "admin1")
    leader = world.users[Role.LEADER]
    client.post(f"/admin/users/{leader.id}/edit", data={
        "login": "leader1", "name": "领导", "office_id": "None", "roles": ["leader"]})  # fmt: skip
    assert not signed_in(laptop) and not signed_in(phone)


def all_set_cookies(responses) -> list[str]:
    return [header for r in responses for header in r.headers.get_all("Set-Cookie")]


def test_no_remember_me_cookie_is_ever_set(client, world: World) -> None:
    page = client.get("/login")
    assert "remember" not in page.text and "记住" not in page.text
    responses = [page, client.post("/login", data={"login": "coord1", "password": PASSWORD,
                                                   "remember": "y"})]  # fmt: skip
    responses += [client.get("/tasks/"), client.get("/password"), client.post("/logout")]
    cookies = all_set_cookies(responses)
    assert cookies and not any("remember" in c.lower() for c in cookies)
    assert client.get_cookie("remember_token") is None


def test_the_session_cookie_is_httponly_samesite_and_lives_with_the_browser(client, world):
    cookie = login(client, "coord1").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" not in cookie and "Max-Age" not in cookie  # not a persistent cookie
    assert "Secure" not in cookie  # BASE_URL is http://127.0.0.1 in development


@pytest.fixture
def https_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path / "i"), "WTF_CSRF_ENABLED": False,
                      "BASE_URL": "https://luoshi.example.gov.cn"})  # fmt: skip
    yield app
    dispose(app)


def test_the_cookie_is_secure_when_the_site_is_https(https_app: Flask, world: World) -> None:
    client = https_app.test_client()
    cookie = login(client, "coord1").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_secure_cookies_can_be_forced(database_url: str, tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path / "i"),
                      "SESSION_COOKIE_SECURE": True})  # fmt: skip
    assert app.config["SESSION_COOKIE_SECURE"] is True
    dispose(app)


# -- 5. 三员分立 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (["admin", "security"], "系统管理员与安全管理员不能由同一账号担任"),
        (["security", "auditor"], "安全管理员与安全审计员不能由同一账号担任"),
        (["admin", "coordinator"], "系统管理员不能同时担任业务角色"),
        (["auditor", "leader"], "安全审计员不能同时担任业务角色"),
    ],
)
def test_the_user_form_refuses_combined_duties(client, world, db, roles, message) -> None:
    login(client, "admin1")
    data = {"login": "newbie", "name": "新同事", "office_id": "None", "roles": roles,
            "is_active": "y", "password": "Initial-pass-1"}  # fmt: skip
    response = client.post("/admin/users/new", data=data)
    assert message in response.text
    assert db.exec(select(User).where(User.login == "newbie")).first() is None


def test_the_user_form_explains_the_separation(client, world: World) -> None:
    login(client, "admin1")
    page = client.get("/admin/users/new").text
    assert "三员分立" in page and "安全管理员" in page and "安全审计员" in page


def test_an_administrator_cannot_be_given_a_second_duty(client, world: World, db) -> None:
    login(client, "admin1")
    auditor = world.users[Role.AUDITOR]
    response = client.post(f"/admin/users/{auditor.id}/edit", data={
        "login": "auditor1", "name": "审计", "office_id": "None", "roles": ["auditor", "security"],
        "is_active": "y"})  # fmt: skip
    assert "不能由同一账号担任" in response.text
    assert user_named(db, "auditor1").roles == {Role.AUDITOR}


def test_the_service_refuses_combined_duties(world: World, db: Session) -> None:
    with pytest.raises(DomainError, match="三员分立"):
        user_service.create_user(
            db, login="both", name="both", password=NEW_PASSWORD,
            roles=[Role.SECURITY, Role.ADMIN], now=utcnow(),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("login_name", "calendar", "security", "users", "audit"),
    [("admin1", 403, 403, 200, 403), ("security1", 200, 200, 200, 403),
     ("auditor1", 403, 403, 403, 200)],
)  # fmt: skip
def test_each_administrator_reaches_only_their_duties(
    client, world, login_name, calendar, security, users, audit
) -> None:
    login(client, login_name)
    assert client.get("/admin/calendar/").status_code == calendar
    assert client.get("/admin/security").status_code == security
    assert client.get("/admin/users").status_code == users
    assert client.get("/audit/").status_code == audit


def test_the_admin_tabs_show_each_administrator_their_own(client, world: World) -> None:
    login(client, "security1")
    tabs = client.get("/admin/security").text.split('<nav class="tabs"')[1].split("</nav>")[0]
    assert "安全策略" in tabs and "工作日历" in tabs and "用户" in tabs
    assert "科室" not in tabs and "提醒设置" not in tabs and "通知记录" not in tabs
    client.post("/logout")
    login(client, "admin1")
    tabs = client.get("/admin/users").text.split('<nav class="tabs"')[1].split("</nav>")[0]
    assert "科室" in tabs and "提醒设置" in tabs
    assert "安全策略" not in tabs and "工作日历" not in tabs


# -- 6. the audit of denied access -----------------------------------------------------------


def test_a_denied_page_is_recorded(client, world: World, db: Session) -> None:
    login(client, "coord1")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/offices/new", data={}).status_code == 403
    denied = events(db, "access.denied")
    assert [(e.actor_login, e.after["path"], e.after["method"]) for e in denied] == [
        ("coord1", "/admin/users", "GET"), ("coord1", "/admin/offices/new", "POST"),
    ]  # fmt: skip
    assert denied[0].after["endpoint"] == "admin.users" and denied[0].ip == "127.0.0.1"


def test_anonymous_visitors_are_sent_to_login_not_recorded(client, world, db) -> None:
    assert client.get("/admin/users").status_code == 302
    assert events(db, "access.denied") == []


def test_every_login_event_is_recorded(app: Flask, client, world: World, db: Session) -> None:
    login(client, "coord1", "Wrong-pass-1")
    login(client, "nobody", "Wrong-pass-1")
    login(client, "coord1")
    client.post("/logout")
    reread(db)
    actions = [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-4:] == ["login.failed", "login.unknown_user", "login", "logout"]
    logins = [e for e in db.exec(select(AuditEvent)) if e.action.startswith(("login", "logout"))]
    assert len(logins) == 4 and all(e.ip == "127.0.0.1" for e in logins)


@pytest.fixture
def csrf_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path / "i")})  # fmt: skip
    assert app.config["WTF_CSRF_ENABLED"] is True
    yield app
    dispose(app)


def token_in(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_unlocking_and_logging_out_everywhere_need_the_csrf_token(
    csrf_app: Flask, world: World, db: Session
) -> None:
    victim = csrf_app.test_client()
    victim.environ_base.update(OTHER_ADDRESS)
    for _ in range(5):
        token = token_in(victim.get("/login").text)
        victim.post("/login", data={"login": "coord1", "password": "Wrong-pass-1",
                                    "csrf_token": token})  # fmt: skip
    client = csrf_app.test_client()
    token = token_in(client.get("/login").text)
    client.post("/login", data={"login": "security1", "password": PASSWORD, "csrf_token": token})
    coord = world.users[Role.COORDINATOR]
    assert client.post(f"/admin/users/{coord.id}/unlock").status_code == 400
    assert user_named(db, "coord1").locked_until is not None
    assert client.post("/password/logout-all").status_code == 400
    assert signed_in(client)
    token = token_in(client.get("/admin/security").text)
    client.post(f"/admin/users/{coord.id}/unlock", data={"csrf_token": token})
    assert user_named(db, "coord1").locked_until is None
