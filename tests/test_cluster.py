"""Several processes and hosts on one PostgreSQL database, and their faults, for real.

Everything runs on 127.0.0.1: gunicorn instances and `flask scheduler` processes started as
subprocesses from the repository (as `make run-prod` and docs/deployment.md start them), an SMTP
server in a process of its own counting what arrives (at the final dot, as a mail server keeps
a message: see _SmtpSession), and PostgreSQL: the local server (TEST_DATABASE_URL), or one of the
test's own where it is stopped. Each "host" has its own instance folder, as two machines would;
they share the database, the SECRET_KEY and the attachments folder (instance/uploads a symbolic
link to one folder), nothing else.

- Two hosts: requests served by both (a session signed in on one is good on the other, evidence
  uploaded on one is downloaded from the other), two schedulers of which one leads, every mail
  delivered once; the leader SIGKILLed, the standby takes over and delivers the rest, once.
- A scheduler SIGKILLed twice in the middle of a sweep of 1,000 due mails, restarted each time:
  each mail arrives exactly once at the SMTP server.
- PostgreSQL crashed and restarted under the daily flow of ten users: clear 503s meanwhile,
  the same workers and scheduler serve again afterwards, nothing acknowledged lost.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socketserver
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.pool import NullPool

from app.models import Outbox
from app.notify.digest import Notice
from tests.dbutil import postgres_server_or_skip

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PASSWORD = "Cluster@2026x"
TICK_SECONDS = 2  # the schedulers tick every 2 s instead of 5 minutes
STANDBY_SECONDS = 1
WAIT_SECONDS = 90
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loadgen() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))
    try:
        import loadgen

        yield loadgen
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def postgres_server() -> str:
    return postgres_server_or_skip("the cluster tests")


# -- the SMTP server --------------------------------------------------------------------------


class Counting:
    """What the SMTP server received: one line per mail in LOG, its recipients, written as the
    mail's final dot arrived."""

    def __init__(self, log: Path) -> None:
        self.log = log

    @property
    def received(self) -> Counter[str]:
        try:
            lines = self.log.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return Counter()
        return Counter(address for line in lines for address in line.split())

    def total(self) -> int:
        return sum(self.received.values())


class _SmtpSession(socketserver.StreamRequestHandler):
    """One SMTP session, as a mail server holds it: a message is kept from the moment its
    final dot is read, whether or not the client stays for the reply (Postfix logs "lost
    connection after END-OF-MESSAGE" and delivers). aiosmtpd is not used here because it
    cancels the whole session when the client hangs up, dropping a finished message that is
    still in its buffer: that would count a mail the real server delivers as lost."""

    def handle(self) -> None:
        self.reply("220 sink.cluster.test ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline(65536):
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.reply("250-sink.cluster.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE")
            elif verb in (b"HELO", b"NOOP", b"MAIL"):
                self.reply("250 OK")
            elif verb == b"RCPT":
                address = line.decode("utf-8").split(":", 1)[1].split(">", 1)[0]
                recipients.append(address.strip().lstrip("<"))
                self.reply("250 OK")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                if not self.read_message():
                    return  # hung up before the final dot: the server drops the message
                self.server.keep(recipients)  # type: ignore[attr-defined]
                recipients = []
                time.sleep(self.server.delay)  # type: ignore[attr-defined]
                self.reply("250 OK")
            elif verb == b"RSET":
                recipients = []
                self.reply("250 OK")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")

    def read_message(self) -> bool:
        """Read up to the final dot; False when the connection ends first."""
        while line := self.rfile.readline(1 << 20):
            if line == b".\r\n":
                return True
        return False

    def reply(self, text: str) -> None:
        with suppress(OSError):
            self.wfile.write(text.encode() + b"\r\n")


class _SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, log: str, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.log, self.delay = log, delay

    def keep(self, recipients: list[str]) -> None:
        line = (" ".join(recipients) + "\n").encode()
        descriptor = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, line)  # one write: whole lines, whoever reads
        finally:
            os.close(descriptor)


def _serve_sink(log: str, delay: float, port: Any) -> None:
    server = _SinkServer(log, delay)
    port.send(server.server_address[1])
    server.serve_forever()


@contextmanager
def smtp_sink(folder: Path, delay: float = 0.0) -> Iterator[tuple[Counting, int]]:
    """The counting SMTP server, in a process of its own: a thread of this process would share
    its interpreter lock with the code that kills schedulers, and tie the moments of the kills
    to the server's answers instead of leaving them to chance. DELAY: before each 250, as a
    real server takes a moment, so that a sweep of 1,000 mails lasts seconds."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    log = folder / f"smtp-{time.monotonic_ns()}.log"
    process = context.Process(target=_serve_sink, args=(str(log), delay, sending), daemon=True)
    process.start()
    try:
        if not receiving.poll(60):
            pytest.fail("the SMTP server did not start")
        yield Counting(log), receiving.recv()
    finally:
        process.kill()
        process.join(10)


# -- the site, its hosts and their schedulers ----------------------------------------------------


def host_env(site, name: str, smtp_port: int) -> dict[str, str]:
    """The environment of one host of SITE: its own instance folder, the shared database and
    SECRET_KEY, the shared attachments (instance/uploads a symbolic link to one folder, as
    docs/deployment.md says: on real hosts, a network file system mounted on each), mail over
    SMTP, a fast scheduler."""
    folder = site.folder / name
    folder.mkdir(exist_ok=True)
    shared = site.folder / "shared-uploads"
    shared.mkdir(exist_ok=True)
    if not (folder / "uploads").is_symlink():
        (folder / "uploads").symlink_to(shared, target_is_directory=True)
    return {**site.environ(), "LUOSHI_INSTANCE_PATH": str(folder),
            "LUOSHI_MAIL_BACKEND": "smtp", "LUOSHI_SMTP_HOST": "127.0.0.1",
            "LUOSHI_SMTP_PORT": str(smtp_port), "LUOSHI_MAIL_FROM": "luoshi@cluster.test",
            "LUOSHI_SCHEDULER_TICK_SECONDS": str(TICK_SECONDS),
            "LUOSHI_SCHEDULER_STANDBY_SECONDS": str(STANDBY_SECONDS),
            "LUOSHI_PRODUCTION": "true"}  # fmt: skip


class Scheduler:
    """`flask scheduler` in a process group of its own, its output in a file."""

    def __init__(self, env: dict[str, str]) -> None:
        self.log = Path(env["LUOSHI_INSTANCE_PATH"]) / f"scheduler-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "scheduler"], cwd=REPO, env=env,
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no clean-up of any kind."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-4000:]


@contextmanager
def schedulers() -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    try:
        yield started
    finally:
        for scheduler in started:
            scheduler.kill()


def prepare(loadgen: ModuleType, site) -> None:
    loadgen.flask_commands(site, [
        ["instance", "init"], ["db", "upgrade"],
        ["users", "create", "coord", "--role", "coordinator", "--password", PASSWORD,
         "--no-must-change"],
    ])  # fmt: skip


def post_evidence(port: int, cookie: str, task_id: int, page: str, content: bytes) -> None:
    """报送进展 with a PDF attached, through the task page's form, on the host at PORT."""
    from tests.conftest import token_from

    form = page[page.index(f'action="/tasks/{task_id}/act/update"') :]
    version = form.split('name="version" value="', 1)[1].split('"', 1)[0]
    boundary = "----luoshi-cluster-test"
    fields = {"csrf_token": token_from(form), "version": version, "text": "两地共享的佐证材料"}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        .encode() for name, value in fields.items()
    ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="佐证.pdf"\r\n'
         "Content-Type: application/pdf\r\n\r\n").encode() + content + (
        f"\r\n--{boundary}--\r\n").encode()  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/tasks/{task_id}/act/update",
            body=body,
            headers={"Cookie": cookie, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 302, f"upload on port {port}: HTTP {response.status}"
    finally:
        connection.close()


def evidence_is_served_by_both_hosts(loadgen: ModuleType, account, port_a: int,
                                     port_b: int) -> None:  # fmt: skip
    """Uploaded on host A, downloaded from host B, byte for byte."""
    import re

    from tests.test_task_pages import PDF

    cookie = sign_in(port_a, account.login, account.password)
    _, mine, cookie = get(port_a, "/tasks/mine", cookie)
    task_id = loadgen.in_progress_tasks(mine)[0]
    _, page, cookie = get(port_a, f"/tasks/{task_id}", cookie)  # its forms' CSRF token
    post_evidence(port_a, cookie, task_id, page, PDF)
    status, page, _ = get(port_b, f"/tasks/{task_id}", cookie)
    (link,) = re.findall(rf'href="(/tasks/{task_id}/files/\d+)"', page)
    connection = http.client.HTTPConnection("127.0.0.1", port_b, timeout=30)
    try:
        connection.request("GET", link, headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200 and response.read() == PDF
    finally:
        connection.close()


def add_mails(database_url: str, count: int, tag: str) -> list[str]:
    """COUNT notices due now, one recipient each, straight into the outbox (as planning would
    put them): the recipients."""
    now = datetime.now(UTC)
    recipients = [f"{tag}{number}@cluster.test" for number in range(count)]
    rows = [
        {"channel": "email", "kind": "notice", "recipient": address, "subject": "系统提示",
         "body": Notice("notice", f"cluster-{tag}-{number}", "系统提示", f"第{number}条", "",
                        "").to_json(),
         "idempotency_key": f"cluster:{tag}:{number}", "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now}
        for number, address in enumerate(recipients)
    ]  # fmt: skip
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Outbox), rows)
    finally:
        engine.dispose()
    return recipients


def outbox_statuses(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Outbox.status, func.count()).group_by(Outbox.status))
            return dict(rows.all())
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS,
               logs: Callable[[], str] = str) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting until {what}\n{logs()}")


def assert_each_once(handler: Counting, recipients: list[str]) -> None:
    """Every recipient got exactly one mail, and nobody else got any."""
    twice = {address: n for address, n in handler.received.items() if n > 1}
    missing = [address for address in recipients if handler.received[address] == 0]
    assert not twice and not missing, f"{len(twice)} twice, {len(missing)} missing"
    assert set(handler.received) == set(recipients)


# -- HTTP --------------------------------------------------------------------------------------


def get(port: int, path: str, cookie: str = "") -> tuple[int, str, str]:
    """(status, body, Set-Cookie session or COOKIE) of one GET on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return (
            response.status,
            response.read().decode("utf-8", "replace"),
            cookie_of(response, cookie),
        )
    finally:
        connection.close()


def cookie_of(response: http.client.HTTPResponse, previous: str) -> str:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    morsel = jar.get("session")
    return f"session={morsel.coded_value}" if morsel else previous


def sign_in(port: int, login: str, password: str) -> str:
    """Sign in through the real form on the host at PORT; the session cookie."""
    from tests.conftest import token_from

    _, page, cookie = get(port, "/login")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = urlencode({"csrf_token": token_from(page), "login": login, "password": password})
        connection.request(
            "POST",
            "/login",
            body=body,
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 302, f"sign-in on port {port}: HTTP {response.status}"
        return cookie_of(response, cookie)
    finally:
        connection.close()


def health(port: int) -> dict:
    status, body, _ = get(port, "/healthz")
    assert status == 200, body
    return json.loads(body)


def leader_of(port: int) -> str | None:
    scheduler = health(port)["scheduler"]
    return scheduler.get("leader") if scheduler["status"] == "ok" else None


# -- the tests ---------------------------------------------------------------------------------


def test_two_hosts_share_one_database(loadgen, postgres_server, tmp_path) -> None:
    name = f"{postgres_server.rsplit('/', 1)[1]}_twohosts"
    with (
        loadgen.temporary_site(postgres_server, name) as site,
        smtp_sink(tmp_path) as (handler, smtp),
    ):
        population = loadgen.populate(site, office_users=1, coordinators=1, offices=5, tasks=200)
        office_user, coordinator = population.accounts
        env_a, env_b = host_env(site, "host-a", smtp), host_env(site, "host-b", smtp)
        port_a, port_b = loadgen.free_port(), loadgen.free_port()
        web_a, web_b = (loadgen.start_gunicorn(env_a, port_a, 2),
                        loadgen.start_gunicorn(env_b, port_b, 2))  # fmt: skip
        with web_a, web_b, schedulers() as running:
            running += [Scheduler(env_a), Scheduler(env_b)]
            logs = lambda: "\n".join(s.output() for s in running)  # noqa: E731
            # A session made on one host is good on the other, and both serve.
            cookie = sign_in(port_a, coordinator.login, coordinator.password)
            for number in range(20):
                status, page, _ = get((port_a, port_b)[number % 2], "/tasks/", cookie)
                assert status == 200 and "全部任务" in page
            for web in (web_a, web_b):  # the access log is written after the answer
                wait_until(
                    lambda w=web: w.output.read_text("utf-8", "replace").count("GET /tasks/") >= 10,
                    "both access logs show their share",
                    timeout=10,
                )
            evidence_is_served_by_both_hosts(loadgen, office_user, port_a, port_b)
            # One leader, seen alike from both hosts; the other process waits as a standby.
            wait_until(lambda: leader_of(port_a) is not None, "a scheduler leads", logs=logs)
            wait_until(
                lambda: (
                    {n["role"] for n in health(port_b)["scheduler"]["nodes"]}
                    == {"leader", "standby"}
                ),
                "the other scheduler stands by",
                logs=logs,
            )
            leader = leader_of(port_a)
            assert leader_of(port_b) == leader
            first = add_mails(site.database_url, 300, "first")
            wait_until(
                lambda: (
                    handler.total() >= 300 and outbox_statuses(site.database_url) == {"sent": 300}
                ),
                "300 mails are sent",
                logs=logs,
            )
            assert_each_once(handler, first)
            # The leader dies; the standby takes over and sends what comes next, once.
            (dead,) = [s for s in running if leader.endswith(f"/{s.process.pid}")]
            dead.kill()
            second = add_mails(site.database_url, 200, "second")
            wait_until(
                lambda: outbox_statuses(site.database_url) == {"sent": 500},
                "the standby takes over and sends 200 more",
                logs=logs,
            )
            time.sleep(TICK_SECONDS)  # a late duplicate would arrive by now
            assert_each_once(handler, first + second)
            wait_until(lambda: leader_of(port_b) not in (None, leader), "healthz shows the new "
                       "leader", logs=logs)  # fmt: skip
            assert leader_of(port_a) == leader_of(port_b)
        for web in (web_a, web_b):
            findings = loadgen.scan_logs(web.logs)
            assert findings.clean, findings


def test_a_scheduler_killed_mid_sweep_sends_each_mail_exactly_once(loadgen, postgres_server,
                                                                   tmp_path) -> None:  # fmt: skip
    name = f"{postgres_server.rsplit('/', 1)[1]}_sigkill"
    sink = smtp_sink(tmp_path, delay=0.004)
    with loadgen.temporary_site(postgres_server, name) as site, sink as (handler, smtp), \
            schedulers() as running:  # fmt: skip
        prepare(loadgen, site)
        env = host_env(site, "host", smtp)
        recipients = add_mails(site.database_url, 1000, "due")
        logs = lambda: "\n".join(s.output() for s in running)  # noqa: E731
        killed_at = []
        for threshold in (250, 600):
            running.append(Scheduler(env))
            wait_until(lambda t=threshold: handler.total() >= t, f"{threshold} mails arrive",
                       logs=logs)  # fmt: skip
            running[-1].kill()
            killed_at.append(handler.total())
        assert all(count < 1000 for count in killed_at), killed_at  # killed mid-sweep
        running.append(Scheduler(env))
        wait_until(
            lambda: outbox_statuses(site.database_url) == {"sent": 1000},
            "every mail is sent after the restarts",
            logs=logs,
        )
        time.sleep(TICK_SECONDS)  # a late duplicate would arrive by now
        assert_each_once(handler, recipients)
        assert handler.total() == 1000


# -- PostgreSQL stopped and started in the middle -------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of this test's own (initdb in a temporary folder, a free port), so
    that it can be stopped and started without touching the machine's server."""

    def __init__(self, folder: Path, port: int) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions:
            if os.environ.get("CI") == "true":
                pytest.fail("the outage test needs PostgreSQL's server binaries in CI")
            pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        self.bin, self.port = versions[-1].parent, port
        self.data, self.log = folder / "pgdata", folder / "postgres.log"
        # initdb and the server refuse to run as root: as the postgres user, then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            os.chown(folder, *postgres_ids())
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-sync")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.as_owner, str(self.bin / program), *args],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                 "start")  # fmt: skip

    def crash(self) -> None:
        """Stop at once, like a power cut: no checkpoint, clients cut off; what was committed
        comes back from the WAL at the next start."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        with suppress(RuntimeError):
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@contextmanager
def private_postgres(port: int) -> Iterator[PrivatePostgres]:
    """The server in a folder of its own under /tmp (pytest's tmp_path is root's alone, and the
    server runs as postgres); stopped and removed however the test ends."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="luoshi-postgres-"))
    try:
        server = PrivatePostgres(folder, port)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def count_markers(database_url: str, prefix: str) -> int:
    from app.models import ProgressUpdate

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(ProgressUpdate).where(
                ProgressUpdate.text.contains(prefix))).scalar_one()  # fmt: skip
    finally:
        engine.dispose()


def test_postgresql_stopped_and_started_mid_run(loadgen, tmp_path) -> None:
    """Ten users doing the daily flow; the database crashes (pg_ctl stop -m immediate) and
    comes back four seconds later. While it is gone every answer is a clear 503 (counted, not
    an error); afterwards the same gunicorn workers and the same scheduler serve and deliver
    again, without a restart; every acknowledged progress update is in the database, once."""
    import threading as threads

    with private_postgres(loadgen.free_port()) as server, \
            loadgen.temporary_site(server.url, "luoshi") as site, \
            smtp_sink(tmp_path) as (handler, smtp), schedulers() as running:  # fmt: skip
        population = loadgen.populate(site, office_users=9, coordinators=1, offices=10,
                                      tasks=300)  # fmt: skip
        env = host_env(site, "host", smtp)
        port = loadgen.free_port()
        with loadgen.start_gunicorn(env, port, 2) as web:
            running.append(Scheduler(env))
            logs = lambda: running[0].output()  # noqa: E731
            wait_until(lambda: leader_of(port) is not None, "the scheduler leads", logs=logs)
            workers = set(loadgen.worker_pids(web.process.pid))
            cookie = sign_in(port, "loadcoord01", population.accounts[-1].password)
            outage, results = threads.Event(), []
            load = threads.Thread(
                target=lambda: results.append(
                    loadgen.run_users(
                        [web.base_url], population.accounts, 16.0, outage=outage.is_set
                    )
                )
            )
            load.start()
            time.sleep(4)
            outage.set()
            server.crash()
            during = [get(port, "/healthz"), get(port, "/tasks/mine", cookie)]
            time.sleep(4)
            server.start()
            wait_until(lambda: get(port, "/healthz")[0] == 200, "the app answers again")
            outage.clear()
            at_restart = count_markers(site.database_url, loadgen.MARKER_PREFIX)
            load.join(timeout=120)
            (result,) = results
            after = count_markers(site.database_url, loadgen.MARKER_PREFIX)
            # The scheduler leads again and delivers what is due, without a restart.
            recipients = add_mails(site.database_url, 20, "after")
            wait_until(
                lambda: outbox_statuses(site.database_url).get("sent") == 20,
                "the scheduler delivers after the outage",
                logs=logs,
            )
            assert set(loadgen.worker_pids(web.process.pid)) == workers  # no worker restarted
            assert running[0].process.poll() is None
            counted = loadgen.check_updates(site.database_url, result.acknowledged)
        web_logs = "\n".join(p.read_text("utf-8", "replace")[-6000:] for p in web.logs)
    healthz, cookie_page = during
    assert healthz[0] == 503 and json.loads(healthz[1])["database"] == "unavailable"
    assert cookie_page[0] == 503 and "数据库暂时无法连接" in cookie_page[1]
    assert result.error_count == 0 and result.stuck_users == 0, f"{result.errors}\n{web_logs}"
    assert result.unavailable > 0, "the outage was not seen"
    assert after > at_restart, "no progress update acknowledged after the outage"
    assert counted.missing == [] and counted.duplicated == []  # nothing acknowledged was lost
    assert len(counted.found) == len(result.acknowledged) > 0
    assert_each_once(handler, recipients)
