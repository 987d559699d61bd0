"""Engine, one session per request, and session_scope() for commands and jobs.

SQLite gets real transactions: pysqlite's legacy mode runs SELECTs outside any transaction and
loses read-modify-write updates, and a deferred BEGIN fails with "database is locked" when another
writer commits first. So every transaction that may write starts with BEGIN IMMEDIATE (it waits
for the busy timeout instead); read-only web requests use a deferred BEGIN so that readers never
queue behind writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

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
    """Close the context's session; an uncommitted transaction is rolled back."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


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
