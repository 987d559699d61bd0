"""Fixtures: an app per test on a fresh database, SQLite always and PostgreSQL when
TEST_DATABASE_URL is set (CI sets it), with the schema made by the real migrations."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from app import create_app
from app.db import dispose, get_engine, make_engine
from app.services import users as user_service
from tests import factories
from tests.dbutil import fresh_postgres_url, migrate

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])

if os.environ.get("CI") == "true" and not TEST_DATABASE_URL:
    raise RuntimeError("CI must set TEST_DATABASE_URL: the suite runs on PostgreSQL too.")


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same algorithm (scrypt), lower work factor: tests create many accounts.
    monkeypatch.setattr(user_service, "HASH_METHOD", "scrypt:1024:8:1")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "luoshi.sqlite3"
    migrate(f"sqlite:///{path}", "head")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this session, migrated to head; emptied after each test."""
    assert TEST_DATABASE_URL
    # One database per pytest-xdist worker (make test runs one per CPU).
    suffix = "suite" + (f"_{os.environ['PYTEST_XDIST_WORKER']}"
                        if os.environ.get("PYTEST_XDIST_WORKER") else "")  # fmt: skip
    url = fresh_postgres_url(TEST_DATABASE_URL, suffix)
    migrate(url, "head")
    yield url
    if url in _CLEANERS:
        _CLEANERS.pop(url).dispose()
    fresh_postgres_url(TEST_DATABASE_URL, suffix, drop_only=True)


_CLEANERS: dict[str, Engine] = {}


def _empty_all(url: str) -> None:
    """Every table empty and every id sequence back at 1, as after the migrations.

    DELETE rather than TRUNCATE: on tables of a few rows it is about four times faster
    (TRUNCATE makes new files for every table), and it runs after each of a thousand tests.
    The session's replication role "replica" skips the foreign keys (office and app_user refer
    to each other) and audit_event's append-only triggers, for this transaction only; it takes
    a superuser (the suite's postgres), else the TRUNCATE below does the same, slower."""
    engine = _CLEANERS.get(url) or _CLEANERS.setdefault(url, create_engine(url))
    tables = [table.name for table in SQLModel.metadata.sorted_tables]
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            sequences = conn.execute(text(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = current_schema()"
            )).scalars()  # fmt: skip
            for sequence in list(sequences):
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        return
    except DBAPIError:
        pass  # not a superuser
    with engine.begin() as conn:
        # audit_event is append-only (its triggers refuse TRUNCATE): lifted for this cleanup
        # only, inside the transaction, so a failed TRUNCATE leaves them on.
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        names = ", ".join(f'"{table}"' for table in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "luoshi.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        yield url
        _empty_all(url)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WTF_CSRF_ENABLED": False,
        }
    )
    yield app
    dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for arranging and checking data; the test commits what it arranges.

    Its reads begin deferred, so they never hold SQLite's write lock while a request runs; call
    reread(db) to see what requests wrote since.
    """
    engine = get_engine(app).execution_options(sqlite_begin="DEFERRED")
    session = Session(engine, expire_on_commit=False)
    yield session
    session.close()


@pytest.fixture
def world(db: Session) -> factories.World:
    """Two offices with a task each, and one user per role."""
    return factories.make_world(db)


def reread(db: Session) -> None:
    """End DB's read snapshot and forget what it loaded: the next read sees what requests wrote."""
    db.rollback()
    db.expire_all()


def login(client: FlaskClient, login_name: str, password: str = factories.PASSWORD):
    """Sign in through the real login form."""
    return client.post("/login", data={"login": login_name, "password": password})


@pytest.fixture
def engine_factory():
    """make_engine with cleanup."""
    engines = []

    def factory(url: str):
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.dispose()


@pytest.fixture
def csrf_client(database_url: str, tmp_path: Path, world: factories.World) -> Iterator[FlaskClient]:
    """A client of an app with CSRF protection on, as in production (the `app` fixture has it
    off so that tests can post forms directly)."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "csrf-test", "DATABASE_URL": database_url,
         "INSTANCE_PATH": str(tmp_path / "instance")}
    )  # fmt: skip
    assert app.config["WTF_CSRF_ENABLED"] is True
    yield app.test_client()
    dispose(app)


def token_from(html: str) -> str:
    """The CSRF token of the first form in HTML."""
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
