"""A load generator for 落实 Luoshi: simulated users doing the daily flow against gunicorn.

What it offers (bench/load_bench.py and tests/test_load_flow.py use it; a two-host test may too):

- ``temporary_site``: an instance folder and a database (an SQLite file, or a fresh PostgreSQL
  database on a server), removed afterwards; ``populate`` fills it through the real ``flask``
  commands (``instance init``, ``db upgrade``, ``demo synth``, ``users create``).
- ``start_gunicorn``: the app under gunicorn with ``gunicorn.conf.py`` (a production start) on
  one loopback port; call it twice with the same environment and two ports for two "hosts" on
  one database (sessions are signed cookies: the shared SECRET_KEY makes them valid on both).
- ``run_users``: N threads, one a user, each with its own cookie and a fresh connection per
  request, spread over the base URLs request by request. Office users: 我的任务, a task page, a
  progress update through the page's own form (CSRF token included), now and then the full list
  of their tasks in progress. Coordinators: 全部任务, a filtered list, a task page, 通报.
- ``count_updates``: which acknowledged updates are in the database, each exactly once.
- ``scan_logs``: "database is locked", tracebacks and worker timeouts in gunicorn's logs.

The HTTP client is the standard library only (http.client, threads). Everything talks to
127.0.0.1; every request, command and process has a timeout.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlencode, urlsplit

from common import REPO_ROOT, USER_AGENT, session_cookie
from pages_bench import free_port as free_port  # re-exported: a caller's ports for gunicorn
from pages_bench import stop, worker_pids

REQUEST_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 600
SERVER_START_SECONDS = 90
MAX_REDIRECTS = 5
ERRORS_KEPT = 20  # errors kept with their bodies; all are counted
BODY_CHARS_KEPT = 600
MARKER_PREFIX = "负载测试"
MARKER = re.compile(rf"{MARKER_PREFIX}-[a-z0-9._-]+?-\d+(?=】)")
UPDATE_SUCCESS = "进展已报送"  # app/services/task_workflow.py, _update
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
TASK_LINK = re.compile(r'href="/tasks/(\d+)"')
UPDATE_ACTION = re.compile(r'action="(/tasks/(\d+)/act/update)"')
VERSION_INPUT = re.compile(r'name="version" value="(\d+)"')
IN_PROGRESS_TABLE = re.compile(r"<caption>办理中(?:（[^<]*）)?</caption>(.*?)</table>", re.S)


# -- a site: an instance folder and its database -------------------------------------------


@dataclass(frozen=True)
class Site:
    folder: Path  # the instance folder (LUOSHI_INSTANCE_PATH); gunicorn's logs go here too
    database_url: str
    secret_key: str  # shared by every gunicorn started on the site, so sessions work on all

    @property
    def backend(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    def environ(self) -> dict[str, str]:
        """The environment of a command or a server on this site only: no LUOSHI_* or FLASK_*
        setting of the caller leaks in, and the scheduler is off."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LUOSHI_", "FLASK_"))}
        env.update(
            LUOSHI_INSTANCE_PATH=str(self.folder),
            LUOSHI_DATABASE_URL=self.database_url,
            LUOSHI_SECRET_KEY=self.secret_key,
            LUOSHI_SCHEDULER="false",
            FLASK_DEBUG="0",
        )
        return env


def postgres_server_url() -> str:
    """The PostgreSQL server to use: BENCH_DATABASE_URL, TEST_DATABASE_URL, or the local one."""
    return (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or POSTGRES_DEFAULT
    )


def _maintenance(server_url: str, statement: str) -> None:
    """Run STATEMENT on the server's "postgres" database (the server URL's own database may
    be the one being dropped, or may not exist yet)."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    admin = make_url(server_url).set(database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                           connect_args={"connect_timeout": 10})  # fmt: skip
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def create_postgres_database(server_url: str, name: str) -> str:
    """A fresh, empty database NAME on the server of SERVER_URL (dropped first if it exists);
    its URL."""
    from sqlalchemy import make_url

    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ValueError(f"unsafe database name {name!r}")
    drop_postgres_database(server_url, name)
    _maintenance(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop database NAME, closing whatever connections are still open on it."""
    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ValueError(f"unsafe database name {name!r}")
    _maintenance(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def temporary_site(server_url: str | None = None, database: str = "") -> Iterator[Site]:
    """A fresh instance folder with an SQLite database, or, given SERVER_URL, with a fresh
    PostgreSQL database named DATABASE on that server; both removed however the run ends."""
    folder = Path(tempfile.mkdtemp(prefix="luoshi-load-"))
    key = f"luoshi-load-{secrets.token_urlsafe(32)}"  # not JSON: from_prefixed_env keeps a str
    try:
        if server_url is None:
            yield Site(folder, f"sqlite:///{folder / 'load.sqlite3'}", key)
            return
        if not database:
            raise ValueError("a PostgreSQL site needs a database name")
        url = create_postgres_database(server_url, database)
        try:
            yield Site(folder, url, key)
        finally:
            drop_postgres_database(server_url, database)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# The real flask commands, run by Flask's CLI runner in one process: the app takes about 3 s
# to start, and 50 `flask users create` processes would take minutes.
FLASK_BATCH = """
import json, sys, traceback
from app import create_app
runner = create_app().test_cli_runner()
for args in json.loads(sys.stdin.read()):
    result = runner.invoke(args=args)
    sys.stdout.write(result.output)
    if result.exit_code != 0:
        sys.stderr.write(f"flask {' '.join(args)} failed ({result.exit_code}):\\n{result.output}")
        if result.exc_info and not isinstance(result.exception, SystemExit):
            traceback.print_exception(*result.exc_info)
        sys.exit(1)
"""


def flask_commands(site: Site, commands: Sequence[Sequence[str]]) -> str:
    """Run each of COMMANDS (``flask`` arguments) on SITE, in order; their output."""
    completed = subprocess.run(
        [sys.executable, "-c", FLASK_BATCH], input=json.dumps([list(c) for c in commands]),
        cwd=REPO_ROOT, env=site.environ(), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip() or completed.stdout.strip())
    return completed.stdout


class Account(NamedTuple):
    login: str
    password: str
    role: str = "office"  # office or coordinator: which flow the user runs


@dataclass(frozen=True)
class Population:
    accounts: list[Account]
    offices: list[str]  # the offices of the office users, in the order they were spread
    tasks: int
    seconds: float  # to build the site


def populate(
    site: Site, *, office_users: int, coordinators: int = 1, offices: int = 50,
    tasks: int = 5000, users_per_office: int = 5, password: str = "Load@2026x",
) -> Population:  # fmt: skip
    """Migrate SITE, add a synthetic data set and the accounts: OFFICE_USERS office users,
    USERS_PER_OFFICE to an office (so that several post on the same tasks at once), each office
    one that leads tasks in progress, and COORDINATORS coordinators."""
    started = time.monotonic()
    flask_commands(site, [["instance", "init"], ["db", "upgrade"],
                          ["demo", "synth", "--offices", str(offices), "--tasks", str(tasks),
                           "--updates", str(tasks)]])  # fmt: skip
    needed = max(1, math.ceil(office_users / max(1, users_per_office)))
    names = offices_with_work(site.database_url, needed)
    if office_users and not names:
        raise RuntimeError("no synthetic office leads a task in progress: give more tasks")
    accounts = [Account(f"loadoffice{n:03d}", password) for n in range(1, office_users + 1)]
    accounts += [Account(f"loadcoord{n:02d}", password, "coordinator")
                 for n in range(1, coordinators + 1)]  # fmt: skip
    spread = [names[n % len(names)] for n in range(office_users)]
    pairs = zip(accounts[:office_users], spread, strict=True)
    # The daily flow, not the first day: no forced change of password at the first sign-in
    # (sign_in would still complete one, should the app ask).
    commands = [["users", "create", a.login, "--role", "office", "--office", office,
                 "--password", a.password, "--no-must-change"] for a, office in pairs]  # fmt: skip
    commands += [["users", "create", a.login, "--role", "coordinator", "--password", a.password,
                  "--no-must-change"] for a in accounts[office_users:]]  # fmt: skip
    flask_commands(site, commands)
    return Population(accounts, spread, tasks, time.monotonic() - started)


def offices_with_work(database_url: str, count: int, minimum: int = 3) -> list[str]:
    """Up to COUNT synthetic offices (by name) that each lead at least MINIMUM tasks in
    progress, the only state in which an office may post progress."""
    from sqlalchemy import text

    query = text(
        "SELECT o.name FROM office o JOIN task t ON t.lead_office_id = o.id "
        "WHERE t.status = 'in_progress' AND o.name LIKE :synthetic "
        "GROUP BY o.name HAVING count(*) >= :minimum ORDER BY o.name LIMIT :count"
    )
    with _engine(database_url) as engine, engine.connect() as connection:
        rows = connection.execute(query, {"synthetic": "合成科室%", "minimum": minimum,
                                          "count": count})  # fmt: skip
        return [row[0] for row in rows]


@contextmanager
def _engine(database_url: str) -> Iterator[Any]:
    """A short-lived engine without a pool, for the bench's own reads."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


# -- gunicorn ---------------------------------------------------------------------------------


@dataclass
class GunicornServer:
    """One gunicorn master and its workers, in a process group of their own."""

    process: subprocess.Popen
    port: int
    workers: int
    error_log: Path
    output: Path  # stdout and stderr: the access log, and anything the workers print

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs(self) -> list[Path]:
        return [self.error_log, self.output]

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL when it lingers; safe to call twice."""
        stop(self.process)

    def __enter__(self) -> GunicornServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, log_dir: Path | None = None
) -> GunicornServer:
    """Serve the app with ``gunicorn -c gunicorn.conf.py`` (a production start) in ENV (e.g.
    Site.environ()) on 127.0.0.1:PORT with WORKERS sync workers; return once /healthz answers
    and every worker is up. Logs go to LOG_DIR (default: the instance folder), named by port."""
    folder = Path(log_dir or env["LUOSHI_INSTANCE_PATH"])
    folder.mkdir(parents=True, exist_ok=True)
    error_log, output = folder / f"gunicorn-{port}.err", folder / f"gunicorn-{port}.out"
    server_env = {**env, "LUOSHI_BIND": f"127.0.0.1:{port}", "LUOSHI_WORKERS": str(workers)}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
               "--error-logfile", str(error_log), "app:create_app()"]  # fmt: skip
    with open(output, "ab") as sink:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=server_env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = GunicornServer(process, port, workers, error_log, output)
    try:
        _wait_until_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_ready(server: GunicornServer) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.process.returncode}):\n"
                               f"{_log_tail(server)}")  # fmt: skip
        if _healthy(server.port) and len(worker_pids(server.process.pid)) >= server.workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start in {SERVER_START_SECONDS} s:\n{_log_tail(server)}")


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _log_tail(server: GunicornServer, chars: int = 3000) -> str:
    texts = []
    for path in server.logs:
        with suppress(OSError):
            texts.append(path.read_text("utf-8", errors="replace")[-chars:])
    return "\n".join(texts).strip() or "(no log)"


@dataclass(frozen=True)
class LogFindings:
    locked: int  # lines with "database is locked"
    tracebacks: int
    worker_timeouts: int
    excerpts: list[str]  # the first few findings, with the lines after them
    restarts: int = 0  # workers recycled by max_requests: not a fault, but a pause in answers

    @property
    def clean(self) -> bool:
        return not (self.locked or self.tracebacks or self.worker_timeouts)


def scan_logs(paths: Sequence[Path], excerpts: int = 3) -> LogFindings:
    """Count what must never appear in gunicorn's logs (error log, workers' output)."""
    locked = tracebacks = timeouts = restarts = 0
    found: list[str] = []
    for path in paths:
        with suppress(OSError):
            lines = path.read_text("utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines):
                restarts += "Autorestarting worker" in line
                hits = ("database is locked" in line, "Traceback (most recent call last)" in line,
                        "WORKER TIMEOUT" in line)  # fmt: skip
                locked += hits[0]
                tracebacks += hits[1]
                timeouts += hits[2]
                if any(hits) and len(found) < excerpts:
                    found.append(f"{path.name}:{number + 1}:\n" + "\n".join(lines[number:][:30]))
    return LogFindings(locked, tracebacks, timeouts, found, restarts)


# -- one simulated user's browser ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    kind: str
    status: int  # 0: no answer (connection error, timeout)
    seconds: float
    outcome: str  # ok, error or unavailable


@dataclass(frozen=True)
class RequestError:
    kind: str
    method: str
    url: str
    status: int
    at: float  # seconds since the start of the run
    detail: str  # what was wrong, and the start of the body


@dataclass(frozen=True)
class Answer:
    status: int
    location: str  # the path of a redirect's Location
    body: str
    cookie: str  # the session cookie's value after this answer


class TimeUp(Exception):
    """The run's time is up: the user sends nothing more."""


class Unavailable(Exception):
    """An expected 503 during an outage: the user starts the flow again a little later."""


class FlowError(Exception):
    """An answer that breaks the flow (already recorded as an error)."""


class Browser:
    """One user's cookie and record; every request on a fresh connection (gunicorn's sync
    workers close it anyway), to the next base URL in turn."""

    def __init__(self, ctx: RunContext, number: int) -> None:
        self.ctx = ctx
        self.turn = number  # users start on different hosts
        self.cookie = ""
        self.signed_out = False  # the app sent this user to /login: sign in again
        self.samples: list[Sample] = []
        self.errors: list[RequestError] = []
        self.error_count = 0

    def request(
        self, kind: str, method: str, path: str, *, body: bytes | None = None,
        content_type: str = "", expect: tuple[int, ...] = (200,),
    ) -> Answer:  # fmt: skip
        """Send one request and record it; raise TimeUp, Unavailable or FlowError unless its
        status is one of EXPECT. A redirect to /login (a lost session) is never expected."""
        if time.monotonic() >= self.ctx.deadline:
            raise TimeUp
        host, port = self.ctx.hosts[self.turn % len(self.ctx.hosts)]
        self.turn += 1
        where = f"{host}:{port}{path}"
        outage_before = self.ctx.in_outage()
        started = time.perf_counter()
        try:
            answer = self._send(host, port, method, path, body, content_type)
        except (OSError, http.client.HTTPException) as error:
            self._record(kind, 0, time.perf_counter() - started, "error")
            self.fail(kind, method, where, 0, f"{type(error).__name__}: {error}")
        seconds = time.perf_counter() - started
        lost = answer.status in (302, 303) and urlsplit(answer.location).path == "/login"
        self.signed_out = self.signed_out or lost
        if answer.status in expect and not lost:
            self._record(kind, answer.status, seconds, "ok")
            return answer
        if answer.status == 503 and (outage_before or self.ctx.in_outage()):
            self._record(kind, 503, seconds, "unavailable")
            raise Unavailable
        self._record(kind, answer.status, seconds, "error")
        self.fail(kind, method, where, answer.status,
                  f"expected {expect}; Location {answer.location!r}\n{answer.body}")  # fmt: skip

    def _send(
        self, host: str, port: int, method: str, path: str, body: bytes | None, content_type: str
    ) -> Answer:
        headers = {"User-Agent": USER_AGENT}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if content_type:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        self.cookie = session_cookie(response, self.cookie)
        location = urlsplit(response.getheader("Location") or "")
        target = location.path + (f"?{location.query}" if location.query else "")
        return Answer(response.status, target, text, self.cookie)

    def _record(self, kind: str, status: int, seconds: float, outcome: str) -> None:
        self.samples.append(Sample(kind, status, seconds, outcome))

    def fail(self, kind: str, method: str, url: str, status: int, detail: str) -> NoReturn:
        """Record an error (the first few with their detail) and raise FlowError."""
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            at = time.monotonic() - self.ctx.started
            self.errors.append(RequestError(kind, method, url, status, round(at, 3),
                                            detail[:BODY_CHARS_KEPT]))  # fmt: skip
        raise FlowError(detail)

    def follow(self, kind: str, answer: Answer) -> tuple[Answer, str]:
        """Follow redirects as a browser does (GET each Location) until a page answers; that
        page and its path."""
        path = ""
        for _ in range(MAX_REDIRECTS):
            if answer.status not in (301, 302, 303, 307, 308):
                break
            path = answer.location or "/"
            answer = self.request(kind, "GET", path, expect=(200, 302, 303))
        return answer, urlsplit(path).path


# -- the forms ------------------------------------------------------------------------------


def csrf_token(html: str) -> str | None:
    match = CSRF_INPUT.search(html)
    return match.group(1) if match else None


def session_flashes(cookie: str) -> list[tuple[str, str]] | None:
    """The flashed (category, message) pairs in a Flask session cookie ``session=...``; None
    when it cannot be read. The payload is signed, not encrypted: base64 JSON (zlib-compressed
    when it starts with a dot), then the timestamp and the signature."""
    value = cookie.partition("=")[2].strip('"')
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        data = json.loads(zlib.decompress(raw) if compressed else raw)
    except (ValueError, zlib.error):
        return None
    flashes = data.get("_flashes", []) if isinstance(data, dict) else []
    pairs = []
    for item in flashes:  # Flask's tagged JSON stores each tuple as {" t": [category, message]}
        pair = item.get(" t") if isinstance(item, dict) else item
        if isinstance(pair, list) and len(pair) == 2:
            pairs.append((str(pair[0]), str(pair[1])))
    return pairs


def multipart(fields: Sequence[tuple[str, str]]) -> tuple[bytes, str]:
    """FIELDS as multipart/form-data, with an empty file input as a browser sends it when no
    file is chosen; (body, content type)."""
    boundary = f"----luoshi-load-{secrets.token_hex(12)}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields]  # fmt: skip
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename=""\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n\r\n")  # fmt: skip
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("utf-8"), f"multipart/form-data; boundary={boundary}"


# -- the flows ------------------------------------------------------------------------------


@dataclass
class RunContext:
    hosts: list[tuple[str, int]]
    started: float
    deadline: float
    outage: Callable[[], bool] | None
    list_share: float  # how often an office user also opens the full list of its tasks
    pause: float  # seconds between two steps of a user (0: as fast as the server answers)

    def in_outage(self) -> bool:
        return bool(self.outage and self.outage())


def sign_in(browser: Browser, account: Account) -> str:
    """Sign in through the login form (CSRF token included) and follow the redirects to the
    start page; when the app holds the account on the change-password page, change it there.
    Returns the password now valid."""
    page = browser.request("login_page", "GET", "/login")
    token = csrf_token(page.body)
    if token is None:
        browser.fail("login_page", "GET", "/login", page.status, "no csrf_token on /login")
    form = urlencode({"csrf_token": token, "login": account.login,
                      "password": account.password, "next": ""})  # fmt: skip
    answer = browser.request("sign_in", "POST", "/login", body=form.encode(),
                             content_type="application/x-www-form-urlencoded",
                             expect=(302, 303))  # fmt: skip
    start, path = browser.follow("start", answer)
    if path == "/password":  # a first sign-in, or an expired password
        return change_password(browser, account, start.body)
    return account.password


def change_password(browser: Browser, account: Account, page: str) -> str:
    """Complete the change-password form (forced at first sign-in); the new password."""
    token = csrf_token(page)
    if token is None:
        browser.fail("password", "GET", "/password", 200, "no csrf_token on /password")
    new = f"Ld#{secrets.token_hex(6)}Q7"  # three classes and more, never the login
    form = urlencode({"csrf_token": token, "current_password": account.password,
                      "new_password": new, "confirm_password": new})  # fmt: skip
    answer = browser.request("password", "POST", "/password", body=form.encode(),
                             content_type="application/x-www-form-urlencoded",
                             expect=(302, 303))  # fmt: skip
    _, path = browser.follow("start", answer)
    if path == "/password":
        browser.fail("password", "POST", "/password", answer.status, "still held on /password")
    return new


def in_progress_tasks(html: str) -> list[int]:
    """The task ids of 我的任务's 办理中 table (the tasks an office may post progress on)."""
    match = IN_PROGRESS_TABLE.search(html)
    return [int(i) for i in TASK_LINK.findall(match.group(1))] if match else []


def post_update(browser: Browser, user: UserState, task_id: int, page: str) -> None:
    """报送进展 through the task page's own form. Acknowledged (its marker kept) when the app
    answers with its success redirect: to the task page, with the success message flashed."""
    action = UPDATE_ACTION.search(page)
    path = f"/tasks/{task_id}"
    if action is None or int(action.group(2)) != task_id:
        browser.fail("task", "GET", path, 200, "no 报送进展 form on the task page")
    form = page[action.end() :]
    token, version = csrf_token(form), VERSION_INPUT.search(form)
    if token is None or version is None:
        browser.fail("task", "GET", path, 200, "the 报送进展 form has no csrf_token or version")
    user.sent += 1
    marker = f"{MARKER_PREFIX}-{user.account.login}-{user.sent}"
    text = f"【{marker}】按计划推进，本周开展普法宣传{user.rng.randint(1, 9)}次。"
    body, content_type = multipart([
        ("csrf_token", token), ("version", version.group(1)), ("text", text),
        ("outcome-metric-0", "开展普法宣传"), ("outcome-value-0", str(user.rng.randint(1, 9))),
        ("outcome-unit-0", "次"), ("outcome-metric-1", ""), ("outcome-value-1", ""),
        ("outcome-unit-1", ""), ("outcome-metric-2", ""), ("outcome-value-2", ""),
        ("outcome-unit-2", ""),
    ])  # fmt: skip
    answer = browser.request("update", "POST", action.group(1), body=body,
                             content_type=content_type, expect=(302, 303))  # fmt: skip
    flashes = session_flashes(answer.cookie)
    if urlsplit(answer.location).path == path and (
        flashes is None or any(c == "success" and UPDATE_SUCCESS in m for c, m in flashes)
    ):
        user.acknowledged.append(marker)  # before the next request, which may fail
    else:
        detail = f"not acknowledged: Location {answer.location!r}, flashes {flashes}"
        browser.fail("update", "POST", action.group(1), answer.status, detail)
    browser.follow("after_update", answer)  # the task page again, with the message


def office_round(browser: Browser, user: UserState) -> None:
    """One round of an office user's day: 我的任务, a task in progress, its progress update,
    and now and then the full list of the office's tasks in progress."""
    mine = browser.request("mine", "GET", "/tasks/mine")
    tasks = in_progress_tasks(mine.body)
    if not tasks:
        browser.fail("mine", "GET", "/tasks/mine", 200, "no task in progress on 我的任务")
    task_id = user.rng.choice(tasks)
    user.pause()
    page = browser.request("task", "GET", f"/tasks/{task_id}")
    user.pause()
    post_update(browser, user, task_id, page.body)
    if user.rng.random() < browser.ctx.list_share:
        user.pause()
        browser.request("mine_all", "GET", "/tasks/mine?status=in_progress")


def coordinator_round(browser: Browser, user: UserState) -> None:
    """One round of a coordinator's day: 全部任务, the overdue ones, a task page, 通报."""
    listing = browser.request("index", "GET", "/tasks/")
    user.pause()
    browser.request("index_filtered", "GET", "/tasks/?light=red&sort=-deadline")
    ids = TASK_LINK.findall(listing.body)
    if ids:
        user.pause()
        browser.request("task", "GET", f"/tasks/{user.rng.choice(ids)}")
    user.pause()
    browser.request("review", "GET", "/review/")


@dataclass
class UserState:
    account: Account
    rng: random.Random
    ctx: RunContext
    password: str = ""
    signed_in: bool = False
    sent: int = 0  # updates prepared so far: numbers the markers
    acknowledged: list[str] = field(default_factory=list)

    def pause(self) -> None:
        if self.ctx.pause > 0:
            time.sleep(min(self.rng.uniform(0.5, 1.5) * self.ctx.pause,
                           max(0.0, self.ctx.deadline - time.monotonic())))  # fmt: skip


def simulate(browser: Browser, user: UserState) -> None:
    """The user's loop until the time is up: sign in once, then round after round. An
    expected 503 (outage) or an error starts the round again, after a short wait."""
    flow = coordinator_round if user.account.role == "coordinator" else office_round
    while time.monotonic() < browser.ctx.deadline:
        try:
            if not user.signed_in:
                user.password = sign_in(browser, user.account._replace(password=user.password))
                user.signed_in = True
            flow(browser, user)
            user.pause()
        except TimeUp:
            return
        except (Unavailable, FlowError):
            if browser.signed_out:  # counted once; then sign in again like a person would
                user.signed_in, browser.signed_out, browser.cookie = False, False, ""
            time.sleep(min(0.25, max(0.0, browser.ctx.deadline - time.monotonic())))


# -- results --------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of VALUES (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class LoadResult:
    users: int
    base_urls: list[str]
    seconds: float  # from the start until the last user stopped
    samples: list[Sample]
    errors: list[RequestError]  # the first few, with their detail
    error_count: int
    acknowledged: list[str]  # markers of the progress updates the app acknowledged
    updates_sent: int
    passwords: dict[str, str]  # accounts whose password the run had to change: the new one
    stuck_users: int = 0  # threads still running after the time allowed (counted as errors)

    @property
    def unavailable(self) -> int:
        return sum(1 for s in self.samples if s.outcome == "unavailable")

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.stuck_users == 0

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(s.kind for s in self.samples))

    def stats(self, kind: str | None = None) -> dict[str, Any]:
        """Counts and latencies (ms, of the answered requests) of one kind, or of all."""
        chosen = [s for s in self.samples if kind is None or s.kind == kind]
        latencies = [s.seconds * 1000 for s in chosen if s.status]
        return {
            "requests": len(chosen),
            "rps": round(len(chosen) / self.seconds, 2) if self.seconds else 0.0,
            "errors": sum(1 for s in chosen if s.outcome == "error"),
            "unavailable": sum(1 for s in chosen if s.outcome == "unavailable"),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "max_ms": round(max(latencies, default=0.0), 1),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "users": self.users, "base_urls": self.base_urls, "seconds": round(self.seconds, 2),
            "all": self.stats(), "kinds": {kind: self.stats(kind) for kind in self.kinds()},
            "errors": self.error_count, "stuck_users": self.stuck_users,
            "unavailable": self.unavailable, "updates_sent": self.updates_sent,
            "acknowledged": len(self.acknowledged),
            "first_errors": [asdict(e) for e in self.errors],
        }  # fmt: skip


def _hosts(base_urls: Sequence[str]) -> list[tuple[str, int]]:
    hosts = []
    for url in base_urls:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
            raise ValueError(f"only http://127.0.0.1:<port> is allowed, not {url!r}")
        hosts.append((parts.hostname, parts.port))
    if not hosts:
        raise ValueError("no base URL")
    return hosts


def run_users(
    base_urls: Sequence[str], users: Sequence[Account | tuple[str, str]], seconds: float, *,
    outage: Callable[[], bool] | None = None, list_share: float = 0.25, pause: float = 0.0,
    seed: int = 20261130,
) -> LoadResult:  # fmt: skip
    """Run USERS (``Account`` or plain (login, password): an office user) at once against
    BASE_URLS for SECONDS, each in its own thread, each request to the next base URL in turn.

    OUTAGE, when given, is asked at the start and at the end of every request: a 503 answered
    while it says True (e.g. ``event.is_set`` of an event the caller sets while the database is
    down) counts as ``unavailable``, not as an error. Every other answer that is not the one
    the flow expects, and every connection error or timeout, is an error."""
    accounts = [u if isinstance(u, Account) else Account(*u) for u in users]
    now = time.monotonic()
    ctx = RunContext(_hosts(base_urls), now, now + seconds, outage, list_share, pause)
    browsers = [Browser(ctx, n) for n in range(len(accounts))]
    states = [UserState(a, random.Random(f"{seed}-{a.login}"), ctx, a.password)
              for a in accounts]  # fmt: skip
    threads = [
        threading.Thread(target=simulate, args=pair, name=f"load-{pair[1].account.login}",
                         daemon=True)
        for pair in zip(browsers, states, strict=True)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:  # a user may be inside a request when the time is up
        thread.join(timeout=max(0.0, ctx.deadline + 3 * REQUEST_TIMEOUT_SECONDS - time.monotonic()))
    stuck = sum(1 for thread in threads if thread.is_alive())
    return _collect(ctx, accounts, browsers, states, stuck)


def _collect(
    ctx: RunContext, accounts: list[Account], browsers: list[Browser], states: list[UserState],
    stuck: int,
) -> LoadResult:  # fmt: skip
    # A stuck thread may still append: copy its lists before reading them.
    errors = [e for b in browsers for e in list(b.errors)]
    return LoadResult(
        users=len(accounts), base_urls=[f"http://{h}:{p}" for h, p in ctx.hosts],
        seconds=time.monotonic() - ctx.started,
        samples=[s for b in browsers for s in list(b.samples)], errors=errors[:ERRORS_KEPT],
        error_count=sum(b.error_count for b in browsers),
        acknowledged=[m for s in states for m in list(s.acknowledged)],
        updates_sent=sum(1 for b in browsers for s in list(b.samples) if s.kind == "update"),
        passwords={s.account.login: s.password for s in states
                   if s.password != s.account.password},
        stuck_users=stuck,
    )  # fmt: skip


# -- the database afterwards ----------------------------------------------------------------


@dataclass(frozen=True)
class UpdateCount:
    found: list[str]  # acknowledged and stored exactly once
    missing: list[str]  # acknowledged, not stored
    duplicated: list[str]  # acknowledged, stored more than once
    unacknowledged: list[str]  # stored, never acknowledged (e.g. the answer was lost)


def stored_markers(database_url: str) -> Counter[str]:
    """How many times each load-test marker is in progress_update.text."""
    from sqlalchemy import text

    query = text("SELECT text FROM progress_update WHERE text LIKE :prefix")
    with _engine(database_url) as engine, engine.connect() as connection:
        rows = connection.execute(query, {"prefix": f"【{MARKER_PREFIX}-%"})
        return Counter(m for (body,) in rows for m in MARKER.findall(body))


def check_updates(database_url: str, markers: Sequence[str]) -> UpdateCount:
    """Compare the acknowledged MARKERS with what the database holds."""
    stored = stored_markers(database_url)
    wanted = set(markers)
    return UpdateCount(
        found=[m for m in markers if stored[m] == 1],
        missing=[m for m in markers if stored[m] == 0],
        duplicated=[m for m in markers if stored[m] > 1],
        unacknowledged=sorted(m for m in stored if m not in wanted),
    )


def count_updates(database_url: str, markers: Sequence[str]) -> tuple[list[str], list[str]]:
    """(found, missing): the acknowledged MARKERS stored exactly once, and the others (absent
    or stored twice). check_updates tells which is which."""
    counted = check_updates(database_url, markers)
    return counted.found, counted.missing + counted.duplicated
