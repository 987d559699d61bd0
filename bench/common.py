"""What the web benchmarks share: a temporary instance, ``flask`` commands run on it, and a
client that signs in through the real login form.

Everything here talks to 127.0.0.1 only, and every command and request has a timeout.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
USER_AGENT = "luoshi-bench/1"
BENCH_COORDINATOR = "benchcoord"
BENCH_PASSWORD = "Bench@2026x"
COMMAND_TIMEOUT_SECONDS = 600
REQUEST_TIMEOUT_SECONDS = 30
MAX_REDIRECTS = 5
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


# -- a temporary instance -------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    path: Path
    database_url: str

    def environ(self) -> dict[str, str]:
        """The environment of a ``flask`` command (or a server) that works on this instance only."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("LUOSHI_")}
        env.update(
            LUOSHI_INSTANCE_PATH=str(self.path),
            LUOSHI_DATABASE_URL=self.database_url,
            LUOSHI_SCHEDULER="false",
            FLASK_DEBUG="0",
        )
        return env

    def app_config(self) -> dict[str, Any]:
        """The create_app() overrides that point an in-process app at this instance."""
        return {"INSTANCE_PATH": str(self.path), "DATABASE_URL": self.database_url,
                "SCHEDULER": False}  # fmt: skip


@contextmanager
def temporary_instance() -> Iterator[Instance]:
    """A fresh instance folder with an SQLite database, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="luoshi-bench-"))
    try:
        yield Instance(folder, f"sqlite:///{folder / 'bench.sqlite3'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def flask_command(instance: Instance, *args: str) -> float:
    """Run ``flask --app app ARGS`` on INSTANCE; return its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=REPO_ROOT, env=instance.environ(), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{completed.stderr.strip()}")
    return time.perf_counter() - started


# -- signing in -----------------------------------------------------------------------------


def build_synthetic(
    instance: Instance, offices: int, tasks: int, updates: int
) -> tuple[float, float]:
    """Initialise and migrate INSTANCE, add the synthetic data set and the bench coordinator;
    (seconds to migrate, seconds to build the data set)."""
    flask_command(instance, "instance", "init")
    migrate_seconds = flask_command(instance, "db", "upgrade")
    synth_seconds = flask_command(
        instance, "demo", "synth", "--offices", str(offices), "--tasks", str(tasks),
        "--updates", str(updates),
    )  # fmt: skip
    flask_command(instance, "users", "create", BENCH_COORDINATOR, "--role", "coordinator",
                  "--password", BENCH_PASSWORD, "--no-must-change")  # fmt: skip
    return migrate_seconds, synth_seconds


def session_cookie(response: http.client.HTTPResponse, previous: str = "") -> str:
    """The ``session=...`` cookie pair set by RESPONSE, or PREVIOUS when none is set."""
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    morsel = jar.get("session")
    return f"session={morsel.coded_value}" if morsel else previous


def sign_in(port: int, login: str, password: str) -> str:
    """Sign in through the real form (CSRF token included); return the Cookie header.

    Like a browser, follow the redirects after signing in to the start page, which shows the
    welcome message and so takes it out of the session: a cookie that still carried it would
    make every measured page render it (and set a new cookie) again."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/login", headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
        match = CSRF_INPUT.search(response.read().decode("utf-8"))
        cookie = session_cookie(response)
        if match is None:
            raise RuntimeError("the login form has no csrf_token field")
        form = urlencode({"csrf_token": match.group(1), "login": login, "password": password,
                          "next": ""})  # fmt: skip
        headers = {"User-Agent": USER_AGENT, "Cookie": cookie,
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        connection.request("POST", "/login", body=form, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 302:
            raise RuntimeError(f"sign-in as {login} failed (HTTP {response.status})")
        cookie = session_cookie(response, cookie)
        for _ in range(MAX_REDIRECTS):
            if response.status not in (301, 302, 303, 307, 308):
                break
            location = urlsplit(response.getheader("Location") or "/")
            path = location.path + (f"?{location.query}" if location.query else "")
            connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Cookie": cookie})
            response = connection.getresponse()
            response.read()
            cookie = session_cookie(response, cookie)
        if response.status != 200:
            raise RuntimeError(f"{login}'s start page after sign-in: HTTP {response.status}")
        return cookie
    finally:
        connection.close()


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One GET on a fresh connection: the status and the decoded body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()
