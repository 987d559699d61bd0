"""`make run` migrates, loads the demo once, prints the demo logins and serves the login page;
a second start keeps the data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode("utf-8")
    except OSError:
        return None


def scheduler_ticked(port: int) -> bool:
    """Whether /healthz reports the scheduler's first tick."""
    import json

    body = fetch(f"http://127.0.0.1:{port}/healthz")
    return bool(body) and json.loads(body)["scheduler"]["status"] == "ok"


def start_and_fetch_login(instance: Path) -> tuple[str, str, bool]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUOSHI_", "FLASK_"))}
    env["LUOSHI_INSTANCE_PATH"] = str(instance)
    process = subprocess.Popen(
        ["make", "-s", "run", f"PORT={port}"], cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    page = None
    try:
        deadline = time.monotonic() + 120
        while page is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            page = fetch(f"http://127.0.0.1:{port}/login")
        ticked = False
        while not ticked and time.monotonic() < deadline and process.poll() is None:
            ticked = scheduler_ticked(port)
            time.sleep(0 if ticked else 0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert page is not None, output
    return page, output, ticked


@pytest.mark.slow
def test_make_run_serves_the_demo(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("make is required in CI")
        pytest.skip("make is not installed on this machine")
    instance = tmp_path / "instance"
    page, output, ticked = start_and_fetch_login(instance)
    assert "登录" in page
    assert "已加载演示数据" in output and "coordinator" in output
    assert "提醒调度进程已启动" in output  # the scheduler runs beside the web server
    assert ticked, output  # /healthz saw the scheduler's first tick
    assert (instance / "luoshi.sqlite3").exists() and (instance / "config.py").exists()
    page, output, _ = start_and_fetch_login(instance)
    assert "已有数据，未加载演示数据" in output and "coordinator" in output


@pytest.mark.slow
def test_make_run_prod_serves_from_postgresql_under_gunicorn(tmp_path: Path) -> None:
    """`make run-prod`: gunicorn with gunicorn.conf.py, the database created and migrated on the
    local PostgreSQL server, the scheduler beside it, /healthz reporting both."""
    import json

    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    base = os.environ.get("TEST_DATABASE_URL")
    if not base or shutil.which("make") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("make run-prod needs make and TEST_DATABASE_URL in CI")
        pytest.skip("make run-prod needs make and a PostgreSQL server (TEST_DATABASE_URL)")
    url = make_url(base).set(database=f"{make_url(base).database}_runprod")
    server = create_engine(make_url(base), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUOSHI_", "FLASK_"))}
    env["LUOSHI_INSTANCE_PATH"] = str(tmp_path / "instance")
    database = url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        ["make", "-s", "run-prod", f"PROD_DATABASE_URL={database}",
         f"PROD_BIND=127.0.0.1:{port}"],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    health = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            body = fetch(f"http://127.0.0.1:{port}/healthz")
            health = json.loads(body) if body else None
            if health and health["scheduler"]["status"] == "ok":
                break
        login_page = fetch(f"http://127.0.0.1:{port}/login")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        server.dispose()
    assert health is not None, output
    assert health["database"] == "ok" and health["scheduler"]["status"] == "ok", output
    assert login_page and "登录" in login_page
    assert "已创建数据库" in output and "Booting worker" in output
