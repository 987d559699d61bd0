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


def start_and_fetch_login(instance: Path) -> tuple[str, str]:
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
        heartbeat = instance / "scheduler.heartbeat"  # the scheduler's first tick
        while not heartbeat.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert page is not None, output
    return page, output


@pytest.mark.slow
def test_make_run_serves_the_demo(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("make is required in CI")
        pytest.skip("make is not installed on this machine")
    instance = tmp_path / "instance"
    page, output = start_and_fetch_login(instance)
    assert "登录" in page
    assert "已加载演示数据" in output and "coordinator" in output
    assert "提醒调度进程已启动" in output  # the scheduler runs beside the web server
    assert (instance / "scheduler.heartbeat").exists()
    assert (instance / "luoshi.sqlite3").exists() and (instance / "config.py").exists()
    page, output = start_and_fetch_login(instance)
    assert "已有数据，未加载演示数据" in output and "coordinator" in output
