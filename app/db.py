"""Engine, one session per request, and session_scope() for commands and jobs.

SQLite gets real transactions: pysqlite's legacy mode runs SELECTs outside any transaction and
loses read-modify-write updates, and a deferred BEGIN fails with "database is locked" when another
writer commits first. So every transaction that may write starts with BEGIN IMMEDIATE (it waits
for the busy timeout instead); read-only web requests use a deferred BEGIN so that readers never
queue behind writers.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_SECONDS = 30
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ENGINE_KEY = "luoshi.engine"
_READ_ENGINE_KEY = "luoshi.read_engine"


def make_engine(url: str) -> Engine:
    """An engine for URL; on SQLite with the pragmas and BEGIN IMMEDIATE described above."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Hand transaction control to the "begin" hook below instead of pysqlite's legacy mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _sqlite_on_begin(connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    """Whether ENGINE talks to SQLite."""
    return engine.dialect.name == "sqlite"


def init_app(app: Flask) -> None:
    """Create the app's engine and close the request session at teardown."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[_ENGINE_KEY] = engine
    app.extensions[_READ_ENGINE_KEY] = engine.execution_options(sqlite_begin="DEFERRED")
    app.teardown_appcontext(close_session)


def get_engine(app: Flask | None = None) -> Engine:
    """The engine of APP (default: the current app)."""
    return (app or current_app).extensions[_ENGINE_KEY]


def get_session() -> Session:
    """The session of this request or app context, created on first use."""
    if "db_session" not in g:
        key = _ENGINE_KEY
        if has_request_context() and request.method in READ_ONLY_METHODS:
            key = _READ_ENGINE_KEY
        g.db_session = Session(current_app.extensions[key], expire_on_commit=False)
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the context's session; an uncommitted transaction is rolled back.

    If the database went away after the answer was made (the rollback of a page that only
    read fails), there is nothing left to undo: the connection is dropped from the pool and
    the answer stands, rather than turning into a 500 at teardown."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        log.warning("database connection lost while ending a request: %s", error.orig)


def database_unavailable(error: DBAPIError) -> bool:
    """Whether ERROR says the database could not be reached, rather than that a statement was
    wrong: psycopg's OperationalError (connection refused, closed, server shutting down),
    a connection SQLAlchemy found dead, or SQLite unable to open or to lock its file."""
    from psycopg import OperationalError as PostgresOperationalError

    if error.connection_invalidated or isinstance(error.orig, PostgresOperationalError):
        return True
    if isinstance(error.orig, sqlite3.OperationalError):
        text = str(error.orig)
        return "database is locked" in text or "unable to open database" in text
    return False


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for a command or job: commit on success, roll back on error, always close."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose(app: Flask) -> None:
    """Release the app's pooled connections (tests and forked workers)."""
    app.extensions[_ENGINE_KEY].dispose()
