"""Database helpers for tests: migrate a URL, make a fresh PostgreSQL database."""

from __future__ import annotations

import os

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import REPO_ROOT


def alembic_config(url: str) -> Config:
    cfg = Config(str(REPO_ROOT / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def fresh_postgres_url(server_url: str, suffix: str, *, drop_only: bool = False) -> str:
    """(Re)create the database <SERVER_URL's database>_<SUFFIX> on that server; its URL.

    Named after the throwaway database CI made, so that parallel runs never share one."""
    url = make_url(server_url)
    name = f"{url.database}_{suffix}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def postgres_server_or_skip(what: str) -> str:
    """TEST_DATABASE_URL, for tests that need a PostgreSQL server of their own making: skipped
    with a message without it, except in CI, where it must be set."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} needs TEST_DATABASE_URL in CI")
        pytest.skip(f"{what} needs a PostgreSQL server (TEST_DATABASE_URL)")
    return url
