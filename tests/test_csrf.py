"""With CSRF protection on (as in production), a form without its token is refused."""

from __future__ import annotations

from sqlmodel import Session, select

from app.models import AuditEvent, Office
from tests.conftest import token_from
from tests.factories import PASSWORD, World


def test_login_without_token_is_refused_and_changes_nothing(csrf_client, db: Session) -> None:
    before = db.exec(select(AuditEvent)).all()
    response = csrf_client.post("/login", data={"login": "coord1", "password": PASSWORD})
    assert response.status_code == 400
    assert "表单校验失败" in response.text
    assert db.exec(select(AuditEvent)).all() == before
    assert csrf_client.get("/tasks/").status_code == 302


def test_login_with_token_works(csrf_client) -> None:
    token = token_from(csrf_client.get("/login").text)
    response = csrf_client.post(
        "/login", data={"login": "coord1", "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/"


def test_admin_form_without_token_writes_nothing(csrf_client, db: Session, world: World) -> None:
    token = token_from(csrf_client.get("/login").text)
    csrf_client.post("/login", data={"login": "admin1", "password": PASSWORD, "csrf_token": token})
    response = csrf_client.post(
        "/admin/offices/new", data={"unit_id": world.unit.id, "name": "新科室", "kind": "section"}
    )
    assert response.status_code == 400
    assert db.exec(select(Office).where(Office.name == "新科室")).first() is None


def test_logout_without_token_is_refused(csrf_client) -> None:
    token = token_from(csrf_client.get("/login").text)
    csrf_client.post("/login", data={"login": "coord1", "password": PASSWORD, "csrf_token": token})
    assert csrf_client.post("/logout").status_code == 400
    assert csrf_client.get("/tasks/").status_code == 200
