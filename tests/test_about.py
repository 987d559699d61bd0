"""关于本系统: the smallest page a signed-in user gets (the benchmark's minimal page)."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from sqlmodel import Session, select

from app.core.roles import Role
from app.models import UserRole
from tests.conftest import login
from tests.factories import World, make_user


@pytest.mark.parametrize("who", ["admin1", "coord1", "staff_a", "leader1", "auditor1", "norole"])
def test_every_signed_in_user_can_read_about(client, world: World, db: Session, who) -> None:
    user = make_user(db, "norole", Role.LEADER)  # then without a role: it still gets the page
    for row in db.exec(select(UserRole).where(UserRole.user_id == user.id)):
        db.delete(row)
    db.commit()
    login(client, who)
    response = client.get("/about")
    assert response.status_code == 200
    html = response.text
    assert "<h1>关于本系统</h1>" in html and "落实" in html
    assert metadata.version("luoshi") in html
    assert 'href="/about"' in html  # the footer links to it


def test_about_needs_a_sign_in_and_the_login_page_does_not_link_to_it(client) -> None:
    response = client.get("/about")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert 'href="/about"' not in client.get("/login").text


def test_about_reads_no_business_data(client, app, world: World) -> None:
    from sqlalchemy import event

    from app.db import get_engine

    login(client, "coord1")
    client.get("/about")
    seen: list[str] = []
    engine = get_engine(app)

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/about").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    tables = {table for statement in seen for table in re.findall(r"FROM (\w+)", statement)}
    assert tables <= {"app_user", "user_role"}, seen  # the signed-in user, nothing else
