"""Task pages under gunicorn: each page's median time against the app's minimal page.

The issue: "With 200 offices, 20,000 tasks and 100,000 progress updates: the median time of
我的任务, 全部任务 (first page, and a filtered page) and the task page, each as a ratio to the
app's minimal page in the same run. Goal: each page within 2x the minimal page, at 1 and at 4
concurrent clients under gunicorn, with no errors; memory per worker printed."

How:

1. A fresh temporary instance (SQLite): ``flask instance init``, ``flask db upgrade``,
   ``flask demo synth``, then two accounts made with ``flask users create``: an office user of
   the first synthetic office (合成科室0001) and a coordinator. The task page measured is a
   task that office leads, in progress (so that the coordinator is offered its actions), with
   the most progress updates.
2. The app served by gunicorn (sync workers, 2 by default) on a free 127.0.0.1 port, started
   from the repository with the instance's environment; its logs go to files in the instance.
3. Client processes (4 at most by default), each signed in through the real login form as both
   users, each with its own cookies. A measurement runs 1 (or 4) of them at once on one page,
   for a time cap or a request cap, whichever comes first, and records the time of every
   request (gunicorn's sync workers close the connection after each answer, so each request
   connects anew, the baseline's too).
4. Pages, in turn, round after round at each level of concurrency: GET /healthz (one
   ``SELECT 1``, no session, no template: shown for reference), GET /about as the office user
   and as the coordinator (关于本系统: the app's minimal page, the smallest page a signed-in user
   gets: the base layout with its navigation, the user loaded, the session and CSRF token, no
   business data; the baselines), /tasks/mine (office user), /tasks/ (coordinator, first page),
   /tasks/?light=red&sort=-deadline (coordinator, a filtered page) and /tasks/<id>
   (coordinator). The figure of a page is the median over the rounds of the round's median
   time; its ratio is that divided by the same figure of /about for the same user at the same
   concurrency (the goal: at most 2), and, so that nobody is misled, it is also shown divided
   by /healthz's.
5. After the run, the resident memory (VmRSS, and the peak VmHWM) of each gunicorn worker, read
   from /proc/<pid>/status; the workers are the children of the master.

gunicorn is stopped (its whole process group) whatever happens, and the instance is removed.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCH_COORDINATOR,
    BENCH_PASSWORD,
    HOST,
    REPO_ROOT,
    REQUEST_TIMEOUT_SECONDS,
    USER_AGENT,
    Instance,
    build_synthetic,
    fetch,
    flask_command,
    sign_in,
    temporary_instance,
)

OFFICE_LOGIN = "benchoffice"
OFFICE_NAME = "合成科室0001"  # the first office demo synth makes in an empty database
GOAL_RATIO = 2.0
SERVER_START_SECONDS = 60
SERVER_STOP_SECONDS = 10
CLIENT_START_SECONDS = 60
LOG_TAIL_CHARS = 3000
FILTERED_PATH = "/tasks/?light=red&sort=-deadline"
PAGE_LABELS = [  # key, label; the references first
    ("healthz", "GET /healthz (no session)"),
    ("about_office", "GET /about (office, minimal page)"),
    ("about_coord", "GET /about (coordinator, minimal)"),
    ("mine", "GET /tasks/mine (office)"),
    ("index", "GET /tasks/ (coordinator, first page)"),
    ("filtered", "GET /tasks/?light=red&sort=-deadline"),
    ("task", "GET /tasks/<id> (coordinator)"),
]


@dataclass(frozen=True)
class PagesSettings:
    offices: int
    tasks: int
    updates: int
    requests: int  # cap per measurement, all clients together
    rounds: int
    time_cap: float  # seconds per measurement
    warmup: float  # seconds per page and level of concurrency, before the rounds
    server_workers: int
    concurrency: tuple[int, ...]


# -- the data set ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PageData:
    offices: int
    tasks: int
    updates: int
    migrate_seconds: float
    synth_seconds: float
    office: str
    office_tasks: int  # the tasks 我的任务 lists: led by the office, or with it cooperating
    task_id: int
    task_status: str
    task_updates: int


def prepare(instance: Instance, settings: PagesSettings) -> PageData:
    """Migrate INSTANCE, build the synthetic data set, add the two users, pick the task."""
    migrate_seconds, synth_seconds = build_synthetic(
        instance, settings.offices, settings.tasks, settings.updates
    )
    flask_command(instance, "users", "create", OFFICE_LOGIN, "--role", "office",
                  "--office", OFFICE_NAME, "--password", BENCH_PASSWORD,
                  "--no-must-change")  # fmt: skip
    office_tasks, task_id, task_status, task_updates = pick_task(instance)
    return PageData(settings.offices, settings.tasks, settings.updates, migrate_seconds,
                    synth_seconds, OFFICE_NAME, office_tasks, task_id, task_status,
                    task_updates)  # fmt: skip


def pick_task(instance: Instance) -> tuple[int, int, str, int]:
    """The number of tasks OFFICE_NAME sees, and the task page to measure: of the tasks the
    office leads, one in progress (so that the page offers the coordinator its actions) with
    the most progress updates, the lowest id among equals; any status when none is in progress.
    Returns (office tasks, task id, task status, its updates)."""
    from sqlalchemy import case, func
    from sqlmodel import select

    from app import create_app
    from app.core.lifecycle import TaskStatus
    from app.db import dispose, get_engine, session_scope
    from app.models import Office, ProgressUpdate, Task, TaskCooperatingOffice

    app = create_app(instance.app_config())
    try:
        with session_scope(get_engine(app)) as session:
            office_id = session.exec(select(Office.id).where(Office.name == OFFICE_NAME)).one()
            cooperating = select(TaskCooperatingOffice.task_id).where(
                TaskCooperatingOffice.office_id == office_id
            )
            visible = (Task.lead_office_id == office_id) | Task.id.in_(cooperating)
            count = session.exec(select(func.count()).select_from(Task).where(visible)).one()
            updates = func.count(ProgressUpdate.id)
            in_progress = case((Task.status == TaskStatus.IN_PROGRESS.value, 1), else_=0)
            row = session.exec(
                select(Task.id, Task.status, updates)
                .outerjoin(ProgressUpdate, ProgressUpdate.task_id == Task.id)
                .where(Task.lead_office_id == office_id)
                .group_by(Task.id, Task.status)
                .order_by(in_progress.desc(), updates.desc(), Task.id)
            ).first()
    finally:
        dispose(app)
    if row is None:
        raise RuntimeError(f"{OFFICE_NAME} leads no task: give more --tasks")
    return count, row[0], row[1], row[2]


# -- gunicorn -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    pid: int  # the master's, also its process group's
    port: int
    workers: int
    log: Path


def free_port() -> int:
    """A port that is free on the loopback interface just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(instance: Instance, workers: int) -> Iterator[Server]:
    """Serve the app on INSTANCE with gunicorn; stop its process group however the run ends."""
    port, log = free_port(), instance.path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
               "--bind", f"{HOST}:{port}", "--error-logfile", str(log),
               "--graceful-timeout", "5", "app:create_app()"]  # fmt: skip
    with open(instance.path / "gunicorn.out", "wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=instance.environ(), stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        server = Server(process.pid, port, workers, log)
        wait_until_ready(process, server)
        yield server
    finally:
        stop(process)


def wait_until_ready(process: subprocess.Popen, server: Server) -> None:
    """Wait until /healthz answers and every worker has started."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log_tail(server)}")
        try:
            status, _ = fetch(server.port, "/healthz")
        except OSError:
            status = 0
        if status == 200 and len(worker_pids(server.pid)) == server.workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start in {SERVER_START_SECONDS} s:\n{log_tail(server)}")


def log_tail(server: Server) -> str:
    """The end of gunicorn's logs, for error messages."""
    texts = []
    for path in (server.log, server.log.with_name("gunicorn.out")):
        with suppress(OSError):
            texts.append(path.read_text("utf-8", errors="replace")[-LOG_TAIL_CHARS:])
    return "\n".join(texts).strip() or "(no log)"


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's process group, SIGKILL if it lingers; reap the master."""
    group = process.pid
    try:
        if process.poll() is None:
            os.killpg(group, signal.SIGTERM)
            try:
                process.wait(timeout=SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                process.wait(timeout=SERVER_STOP_SECONDS)
        os.killpg(group, signal.SIGKILL)  # any worker that outlived its master
    except ProcessLookupError:
        pass


def worker_pids(master: int) -> list[int]:
    """The children of the gunicorn master: its workers."""
    try:
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text()
                .split()]  # fmt: skip
    except (OSError, ValueError):
        pass
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(master):  # state, then ppid
            children.append(int(stat.parent.name))
    return sorted(children)


def memory(pid: int) -> dict[str, Any]:
    """VmRSS and VmHWM (the peak) of PID in MiB, from /proc/<pid>/status."""
    figures: dict[str, Any] = {"pid": pid}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return figures
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):  # "  123456 kB"
            figures["rss_mib" if key == "VmRSS" else "peak_mib"] = round(
                int(value.split()[0]) / 1024, 1
            )
    return figures


def server_memory(server: Server) -> dict[str, Any]:
    """The memory of the master and of each worker."""
    return {"master": memory(server.pid),
            "workers": [memory(pid) for pid in worker_pids(server.pid)]}  # fmt: skip


# -- the clients ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    path: str
    login: str | None  # None: no cookie
    expected: str  # text the page must contain
    baseline: str | None = None  # the key of the minimal page it is compared with


@dataclass(frozen=True)
class Job:
    path: str
    login: str | None
    count: int
    start_at: float
    deadline: float


@dataclass(frozen=True)
class ClientResult:
    latencies: list[float]  # seconds, of the answers with status 200
    errors: int
    started: float
    finished: float


def client_main(pipe: Any, port: int, logins: tuple[str, ...]) -> None:
    """A client process: sign in as each of LOGINS, then run the jobs the runner sends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runner, which stops us
    try:
        cookies = {login: sign_in(port, login, BENCH_PASSWORD) for login in logins}
    except Exception as error:  # reported to the runner, which raises it
        pipe.send(f"{type(error).__name__}: {error}")
        return
    pipe.send("ready")
    while True:
        try:
            job = pipe.recv()
        except EOFError:
            return
        if job is None:
            return
        pipe.send(run_job(port, job, cookies))


def run_job(port: int, job: Job, cookies: dict[str, str]) -> ClientResult:
    """Up to JOB.count GET requests of one page, one after the other, until the deadline."""
    headers = {"User-Agent": USER_AGENT}
    if job.login:
        headers["Cookie"] = cookies[job.login]
    latencies: list[float] = []
    errors = 0
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    time.sleep(max(0.0, job.start_at - time.monotonic()))
    started = time.monotonic()
    for _ in range(job.count):
        if time.monotonic() >= job.deadline:
            break
        begun = time.perf_counter()
        try:
            connection.request("GET", job.path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            continue
        if response.status == 200:
            latencies.append(time.perf_counter() - begun)
        else:
            errors += 1
    connection.close()
    return ClientResult(latencies, errors, started, time.monotonic())


class Clients:
    """Client processes, each signed in as every user the pages need, each with its cookies."""

    def __init__(self, count: int, port: int, logins: tuple[str, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []
        self.pipes: list[Any] = []
        for number in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=client_main, args=(theirs, port, logins),
                                      name=f"bench-client-{number}", daemon=True)  # fmt: skip
            process.start()
            theirs.close()
            self.processes.append(process)
            self.pipes.append(ours)
        for pipe in self.pipes:
            answer = self.receive(pipe, CLIENT_START_SECONDS)
            if answer != "ready":
                raise RuntimeError(f"a client could not sign in: {answer}")

    @staticmethod
    def receive(pipe: Any, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise RuntimeError(f"a client did not answer within {timeout:g} s")
        return pipe.recv()

    def run(self, jobs: list[Job], timeout: float) -> list[ClientResult]:
        """Give the first len(JOBS) clients one job each; wait for all of them."""
        for pipe, job in zip(self.pipes, jobs, strict=False):
            pipe.send(job)
        return [self.receive(pipe, timeout) for pipe in self.pipes[: len(jobs)]]

    def close(self) -> None:
        for pipe in self.pipes:
            with suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


@contextmanager
def clients(count: int, port: int, logins: tuple[str, ...]) -> Iterator[Clients]:
    started = None
    try:
        started = Clients(count, port, logins)
        yield started
    finally:
        if started is not None:
            started.close()


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    median: float  # seconds
    p90: float
    ok: int
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def measure(
    pool: Clients, page: Page, concurrency: int, requests: int, time_cap: float
) -> Measurement:
    """CONCURRENCY clients on PAGE at once: REQUESTS in all, for at most TIME_CAP seconds."""
    start_at = time.monotonic() + 0.1
    shares = [requests // concurrency + (1 if i < requests % concurrency else 0)
              for i in range(concurrency)]  # fmt: skip
    jobs = [Job(page.path, page.login, share, start_at, start_at + time_cap)
            for share in shares if share]  # fmt: skip
    results = pool.run(jobs, timeout=time_cap + REQUEST_TIMEOUT_SECONDS + 10)
    latencies = sorted(t for result in results for t in result.latencies)
    seconds = max(r.finished for r in results) - min(r.started for r in results)
    errors = sum(r.errors for r in results)
    if not latencies:
        return Measurement(0.0, 0.0, 0, errors, seconds)
    p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
    return Measurement(statistics.median(latencies), p90, len(latencies), errors, seconds)


@dataclass
class Series:
    page: Page
    concurrency: int
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(m.median for m in self.measurements)

    @property
    def p90(self) -> float:
        return statistics.median(m.p90 for m in self.measurements)

    @property
    def rps(self) -> float:
        return statistics.median(m.rps for m in self.measurements)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.measurements)

    @property
    def requests(self) -> int:
        return sum(m.ok + m.errors for m in self.measurements)


def pages_of(data: PageData) -> list[Page]:
    """The references first (/healthz, and /about for each user: the baselines), then the
    pages of the issue."""
    listed = "合成任务" if data.tasks else "</html>"
    progress = "合成进展" if data.task_updates else "</html>"
    label = dict(PAGE_LABELS)
    office, coord = OFFICE_LOGIN, BENCH_COORDINATOR
    return [  # key, label, path, user, text it must contain, the minimal page it is compared with
        Page("healthz", label["healthz"], "/healthz", None, '"ok"'),
        Page("about_office", label["about_office"], "/about", office, "关于本系统"),
        Page("about_coord", label["about_coord"], "/about", coord, "关于本系统"),
        Page("mine", label["mine"], "/tasks/mine", office, listed, "about_office"),
        Page("index", label["index"], "/tasks/", coord, listed, "about_coord"),
        Page("filtered", label["filtered"], FILTERED_PATH, coord, "</html>", "about_coord"),
        Page("task", label["task"], f"/tasks/{data.task_id}", coord, progress, "about_coord"),
    ]


def check_pages(port: int, pages: list[Page]) -> None:
    """Fail early unless every page answers 200 with its text, for its user."""
    cookies = {login: sign_in(port, login, BENCH_PASSWORD)
               for login in {p.login for p in pages if p.login}}  # fmt: skip
    for page in pages:
        headers = {"Cookie": cookies[page.login]} if page.login else {}
        status, body = fetch(port, page.path, headers)
        if status != 200 or page.expected not in body:
            raise RuntimeError(f"{page.label}: HTTP {status}, expected text missing")


def run_levels(pool: Clients, pages: list[Page], settings: PagesSettings) -> list[Series]:
    """At each level of concurrency: warm every page up, then measure them in turn, round
    after round."""
    series: list[Series] = []
    for concurrency in settings.concurrency:
        for page in pages:
            measure(pool, page, concurrency, settings.requests, settings.warmup)
        level = [Series(page, concurrency) for page in pages]
        for number in range(1, settings.rounds + 1):
            for entry in level:
                result = measure(pool, entry.page, concurrency, settings.requests,
                                 settings.time_cap)  # fmt: skip
                entry.measurements.append(result)
                print(f"  {concurrency} client{'s' if concurrency > 1 else ' '} round {number}: "
                      f"{entry.page.label:<38} {result.median * 1000:8.2f} ms "
                      f"{result.rps:8.1f} rps ({result.ok} ok, {result.errors} errors)",
                      flush=True)  # fmt: skip
        series.extend(level)
    return series


# -- the run --------------------------------------------------------------------------------


def run(settings: PagesSettings) -> dict[str, Any]:
    """Build the data set, serve it with gunicorn, measure; clean up in every case."""
    with temporary_instance() as instance:
        print(f"pages: preparing a data set in {instance.path} ...", flush=True)
        data = prepare(instance, settings)
        print(f"pages: demo synth took {data.synth_seconds:.1f} s; starting gunicorn "
              f"({settings.server_workers} workers) ...", flush=True)  # fmt: skip
        with gunicorn(instance, settings.server_workers) as server:
            pages = pages_of(data)
            check_pages(server.port, pages)
            idle = server_memory(server)
            print(f"pages: measuring at {', '.join(map(str, settings.concurrency))} clients "
                  f"({settings.rounds} rounds, {settings.requests} requests or "
                  f"{settings.time_cap:g} s each) ...", flush=True)  # fmt: skip
            logins = tuple(sorted({p.login for p in pages if p.login}))
            with clients(max(settings.concurrency), server.port, logins) as pool:
                series = run_levels(pool, pages, settings)
            after = server_memory(server)
            errors_logged = log_errors(server)
    return summarise(series, data, settings, idle, after, errors_logged)


def log_errors(server: Server) -> int:
    """Lines of gunicorn's error log at level ERROR or worse (tracebacks, worker timeouts)."""
    try:
        text = server.log.read_text("utf-8", errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "[ERROR]" in line or "[CRITICAL]" in line)


def _ratio(value: float, baseline: float, digits: int = 3) -> float | None:
    return round(value / baseline, digits) if baseline else None


def summarise(
    series: list[Series], data: PageData, settings: PagesSettings, idle: dict[str, Any],
    after: dict[str, Any], errors_logged: int,
) -> dict[str, Any]:  # fmt: skip
    """The figures, as one JSON-ready mapping."""
    levels: dict[str, Any] = {}
    for concurrency in settings.concurrency:
        level = {s.page.key: s for s in series if s.concurrency == concurrency}
        healthz = level["healthz"]
        rows = {}
        for key, entry in level.items():
            row = {
                "path": entry.page.path, "user": entry.page.login,
                "median_ms": round(entry.median * 1000, 3), "p90_ms": round(entry.p90 * 1000, 3),
                "rps": round(entry.rps, 1), "requests": entry.requests, "errors": entry.errors,
                "baseline": entry.page.baseline,
                "ratio_healthz": _ratio(entry.median, healthz.median),
                "rps_ratio_healthz": _ratio(entry.rps, healthz.rps, 4),
            }  # fmt: skip
            if entry.page.baseline:
                baseline = level[entry.page.baseline]
                pairs = zip(entry.measurements, baseline.measurements, strict=True)
                ratios = [m.median / b.median if b.median else 0.0 for m, b in pairs]
                ratio = _ratio(entry.median, baseline.median)
                row.update({
                    "ratio": ratio, "ratio_min": round(min(ratios), 3),
                    "ratio_max": round(max(ratios), 3),
                    "rps_ratio": _ratio(entry.rps, baseline.rps, 4),
                    "within_goal": ratio is not None and ratio <= GOAL_RATIO,
                })  # fmt: skip
            rows[key] = row
        levels[str(concurrency)] = rows
    page_rows = [row for rows in levels.values() for row in rows.values() if row["baseline"]]
    errors = sum(row["errors"] for rows in levels.values() for row in rows.values())
    return {
        "server": {"gunicorn_workers": settings.server_workers, "worker_class": "sync"},
        "rounds": settings.rounds,
        "time_cap": settings.time_cap,
        "dataset": {
            **asdict(data),
            "synth_seconds": round(data.synth_seconds, 3),
            "migrate_seconds": round(data.migrate_seconds, 3),
        },
        "concurrency": levels,
        "memory": {"before_run": idle, "after_run": after},
        "gunicorn_log_errors": errors_logged,
        "goal_ratio": GOAL_RATIO,
        "goal_met": errors == 0 and all(row["within_goal"] for row in page_rows),
        "pages_within_goal": sum(row["within_goal"] for row in page_rows),
        "pages_measured": len(page_rows),
    }


# -- the table ------------------------------------------------------------------------------


def print_table(figures: dict[str, Any]) -> None:
    """Per level of concurrency, the pages against /healthz; then memory and the goal."""
    data = figures["dataset"]
    print(f"task pages under gunicorn ({figures['server']['gunicorn_workers']} sync workers), "
          f"median of {figures['rounds']} rounds of {figures['time_cap']:g} s")  # fmt: skip
    print(f"data set: {data['offices']} offices, {data['tasks']} tasks, {data['updates']} updates;"
          f" demo synth took {data['synth_seconds']:.2f} s")  # fmt: skip
    print(
        f"office user: {data['office']} ({data['office_tasks']} tasks in 我的任务); "
        f"task page: task {data['task_id']} ({data['task_status']}, "
        f"{data['task_updates']} progress updates)"
    )
    for concurrency, rows in figures["concurrency"].items():
        print()
        print(f"{concurrency} client{'s' if concurrency != '1' else ''} at once")
        print(f"{'page':<38}{'median ms':>10}{'÷about':>8}{'range':>12}{'÷healthz':>9}"
              f"{'req/s':>8}{'÷about':>8}{'2×':>5}{'errors':>7}")  # fmt: skip
        for key, row in rows.items():
            label = dict(PAGE_LABELS)[key]
            ratio = spread = goal = rps_ratio = ""
            if row["baseline"]:
                ratio, goal = f"{row['ratio']:.2f}", "yes" if row["within_goal"] else "no"
                spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
                rps_ratio = f"{row['rps_ratio']:.3f}"
            elif key != "healthz":
                ratio = f"{1:.2f}"
            print(f"{label:<38}{row['median_ms']:>10.2f}{ratio:>8}{spread:>12}"
                  f"{row['ratio_healthz']:>9.2f}{row['rps']:>8.1f}{rps_ratio:>8}{goal:>5}"
                  f"{row['errors']:>7}")  # fmt: skip
    print()
    print_memory(figures["memory"])
    met = "met" if figures["goal_met"] else "not met"
    print(f"goal (each page's median within {figures['goal_ratio']:g}× /about, the minimal page, "
          f"for the same user at every level, "
          f"no errors): {met}; {figures['pages_within_goal']} of {figures['pages_measured']} "
          f"page measurements within {figures['goal_ratio']:g}×")  # fmt: skip
    if figures["gunicorn_log_errors"]:
        print(f"gunicorn's error log has {figures['gunicorn_log_errors']} ERROR lines")
    print()


def print_memory(figures: dict[str, Any]) -> None:
    def describe(entry: dict[str, Any]) -> str:
        if "rss_mib" not in entry:
            return f"pid {entry['pid']}: not readable"
        return f"pid {entry['pid']} {entry['rss_mib']:.1f} MiB (peak {entry['peak_mib']:.1f})"

    after, idle = figures["after_run"], figures["before_run"]
    print("memory per gunicorn worker (VmRSS after the run; peak = VmHWM):")
    for entry in after["workers"]:
        print(f"  worker {describe(entry)}")
    print(f"  master {describe(after['master'])}")
    started = [e["rss_mib"] for e in idle["workers"] if "rss_mib" in e]
    if started:
        print(f"  (workers before the run: {', '.join(f'{v:.1f}' for v in started)} MiB)")
