"""The daily flow under load: simulated users against gunicorn, on PostgreSQL and on SQLite.

The issue: "50 simulated users for 60 seconds doing the daily flow against gunicorn on
PostgreSQL: no errors, no lost progress update (count them afterwards), p50/p95 printed" and
"The same daily flow on SQLite with 4 gunicorn workers: no 'database is locked' error, nothing
lost."

How (the machinery is in bench/loadgen.py):

1. A fresh site per backend: a temporary instance folder and a database (a new PostgreSQL
   database ``luoshi_load_bench_<pid>`` on the server of BENCH_DATABASE_URL, TEST_DATABASE_URL
   or the local one; an SQLite file), filled by the real flask commands: ``instance init``,
   ``db upgrade``, ``demo synth``, ``users create`` (office users, five to an office that leads
   tasks in progress, and a coordinator).
2. gunicorn with gunicorn.conf.py (a production start: sync workers, a SECRET_KEY of its own,
   the scheduler off) on a free loopback port: on PostgreSQL with the config's own number of
   workers (2 x cores + 1), on SQLite with 4.
3. The users, one thread each, for the given time: sign in once, then round after round —
   office users: 我的任务, a task in progress, a progress update through the page's form (each
   carrying a unique marker), the task page it returns to, now and then the full list of their
   tasks in progress; the coordinator: 全部任务, the overdue ones, a task page, 通报. No pause
   between steps: a worst case, far busier than people are.
4. Afterwards: every acknowledged update (answered by the success redirect with the success
   message) is looked up in progress_update, and gunicorn's logs are searched for "database is
   locked", tracebacks and worker timeouts.

Checks, printed as PASS/FAIL lines: no errors (no answer other than the one the flow expects,
no connection error, no traceback or worker timeout in the logs), no lost update (some
acknowledged, every one stored exactly once), no "database is locked" in the logs. Run on its
own, the exit status is 1 when a check fails; under bench/run.py (``--only load``) it only
prints, like the other benchmarks.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import loadgen  # bench/loadgen.py, next to this file

SQLITE_WORKERS = 4
ERRORS_SHOWN = 5
KIND_LABELS = {
    "login_page": "GET /login",
    "sign_in": "POST /login (sign in)",
    "start": "GET start page after sign-in",
    "password": "POST /password (forced change)",
    "mine": "GET /tasks/mine",
    "task": "GET /tasks/<id> (task page)",
    "update": "POST /tasks/<id>/act/update",
    "after_update": "GET /tasks/<id> after the update",
    "mine_all": "GET /tasks/mine?status=in_progress",
    "index": "GET /tasks/ (coordinator)",
    "index_filtered": "GET /tasks/?light=red (coordinator)",
    "review": "GET /review/ (coordinator)",
}
CHECKS = ("no errors", "no lost update", "no 'database is locked'")


def default_workers() -> int:
    """gunicorn.conf.py's own number of workers."""
    return 2 * multiprocessing.cpu_count() + 1


@dataclass(frozen=True)
class LoadSettings:
    users: int = 50  # of whom `coordinators` are coordinators, the others office staff
    seconds: float = 60.0
    backends: tuple[str, ...] = ("postgresql", "sqlite")
    workers: int = 0  # gunicorn workers on PostgreSQL; 0: gunicorn.conf.py's 2 x cores + 1
    sqlite_workers: int = SQLITE_WORKERS
    coordinators: int = 1
    offices: int = 50
    tasks: int = 5000

    @classmethod
    def quick(cls) -> LoadSettings:
        return cls(users=10, seconds=10.0, offices=10, tasks=1000)

    def workers_for(self, backend: str) -> int:
        if backend == "sqlite":
            return self.sqlite_workers
        return self.workers or default_workers()


# -- one backend ----------------------------------------------------------------------------


def run_backend(backend: str, settings: LoadSettings) -> dict[str, Any]:
    """Build a site on BACKEND, serve it, run the users, check the database and the logs."""
    server_url = loadgen.postgres_server_url() if backend == "postgresql" else None
    database = f"luoshi_load_bench_{os.getpid()}"
    workers = settings.workers_for(backend)
    with loadgen.temporary_site(server_url, database) as site:
        print(f"load ({backend}): building the site ...", flush=True)
        population = loadgen.populate(
            site, office_users=settings.users - settings.coordinators,
            coordinators=settings.coordinators, offices=settings.offices, tasks=settings.tasks,
        )  # fmt: skip
        print(f"load ({backend}): {settings.users} users for {settings.seconds:g} s against "
              f"{workers} gunicorn workers ...", flush=True)  # fmt: skip
        with loadgen.start_gunicorn(site.environ(), loadgen.free_port(), workers) as server:
            result = loadgen.run_users([server.base_url], population.accounts, settings.seconds)
        counted = loadgen.check_updates(site.database_url, result.acknowledged)
        logs = loadgen.scan_logs(server.logs)
    return figures_of(backend, site, workers, population, result, counted, logs)


def figures_of(
    backend: str, site: loadgen.Site, workers: int, population: loadgen.Population,
    result: loadgen.LoadResult, counted: loadgen.UpdateCount, logs: loadgen.LogFindings,
) -> dict[str, Any]:  # fmt: skip
    """One backend's figures and checks, JSON-ready."""
    from sqlalchemy import make_url

    updates = {
        "sent": result.updates_sent, "acknowledged": len(result.acknowledged),
        "found": len(counted.found), "missing": len(counted.missing),
        "duplicated": len(counted.duplicated), "unacknowledged": len(counted.unacknowledged),
        "first_missing": (counted.missing + counted.duplicated)[:10],
    }  # fmt: skip
    checks = {
        "no errors": result.ok and not (logs.tracebacks or logs.worker_timeouts),
        "no lost update": bool(result.acknowledged)
        and len(counted.found) == len(result.acknowledged),
        "no 'database is locked'": logs.locked == 0,
    }
    return {
        "backend": backend,
        "database": make_url(site.database_url).render_as_string(hide_password=True),
        "workers": workers,
        "coordinators": sum(1 for a in population.accounts if a.role == "coordinator"),
        "dataset": {"offices": len(set(population.offices)), "tasks": population.tasks,
                    "build_seconds": round(population.seconds, 2)},
        "load": result.summary(),
        "updates": updates,
        "logs": {"database_is_locked": logs.locked, "tracebacks": logs.tracebacks,
                 "worker_timeouts": logs.worker_timeouts, "worker_restarts": logs.restarts,
                 "excerpts": logs.excerpts},
        "checks": checks,
    }  # fmt: skip


def failed_backend(backend: str, settings: LoadSettings, error: Exception) -> dict[str, Any]:
    """The figures of a backend that could not be run at all: every check fails."""
    return {"backend": backend, "workers": settings.workers_for(backend),
            "failed": f"{type(error).__name__}: {error}",
            "checks": dict.fromkeys(CHECKS, False)}  # fmt: skip


def run(settings: LoadSettings) -> dict[str, Any]:
    """Every backend in turn; a backend that cannot run fails its checks, the others still
    run."""
    backends: dict[str, Any] = {}
    for backend in settings.backends:
        try:
            backends[backend] = run_backend(backend, settings)
        except Exception as error:  # reported as a failed check; the next backend still runs
            backends[backend] = failed_backend(backend, settings, error)
    passed = all(all(b["checks"].values()) for b in backends.values())
    return {"settings": asdict(settings), "backends": backends, "passed": passed}


# -- the table ------------------------------------------------------------------------------


def print_table(figures: dict[str, Any]) -> None:
    """A table per backend, then the PASS/FAIL lines."""
    for backend in figures["backends"].values():
        print_backend(backend, figures["settings"])
        print()


def print_backend(figures: dict[str, Any], settings: dict[str, Any]) -> None:
    name = "PostgreSQL" if figures["backend"] == "postgresql" else "SQLite"
    print(f"load: the daily flow on {name}, {figures['workers']} gunicorn workers")
    if "failed" in figures:
        print(f"  could not run: {figures['failed']}")
        print_checks(figures["checks"], {})
        return
    load, data = figures["load"], figures["dataset"]
    office = load["users"] - figures["coordinators"]
    print(f"database {figures['database']}; {load['users']} users ({office} office, "
          f"{figures['coordinators']} coordinator) for {settings['seconds']:g} s "
          f"({load['seconds']:.1f} s with the last answers)")  # fmt: skip
    print(f"data set: {data['tasks']} tasks, the office users in {data['offices']} offices, "
          f"built in {data['build_seconds']:.1f} s")  # fmt: skip
    print()
    print(f"{'request':<38}{'count':>8}{'req/s':>8}{'errors':>8}{'unavail':>8}"
          f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")  # fmt: skip
    for kind, row in load["kinds"].items():
        print_row(KIND_LABELS.get(kind, kind), row)
    print_row("all requests", load["all"])
    print()
    print_outcome(figures)


def print_row(label: str, row: dict[str, Any]) -> None:
    print(f"{label:<38}{row['requests']:>8}{row['rps']:>8.1f}{row['errors']:>8}"
          f"{row['unavailable']:>8}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
          f"{row['max_ms']:>9.1f}")  # fmt: skip


def print_outcome(figures: dict[str, Any]) -> None:
    """The updates counted in the database, the logs, the first errors, the checks."""
    updates, logs, load = figures["updates"], figures["logs"], figures["load"]
    print(f"progress updates: {updates['sent']} posted, {updates['acknowledged']} acknowledged, "
          f"{updates['found']} found exactly once in the database (missing {updates['missing']}, "
          f"duplicated {updates['duplicated']}; stored but not acknowledged "
          f"{updates['unacknowledged']})")  # fmt: skip
    if updates["first_missing"]:
        print(f"  first lost: {', '.join(updates['first_missing'])}")
    print(f"gunicorn logs: {logs['database_is_locked']} 'database is locked', "
          f"{logs['tracebacks']} tracebacks, {logs['worker_timeouts']} worker timeouts; "
          f"{logs['worker_restarts']} workers recycled (max_requests)")  # fmt: skip
    for excerpt in logs["excerpts"]:
        print("  " + excerpt.replace("\n", "\n  "))
    if load["stuck_users"]:
        print(f"{load['stuck_users']} users still waiting for an answer after the run")
    for error in load["first_errors"][:ERRORS_SHOWN]:
        detail = error["detail"].replace("\n", " ")[:300]
        print(f"  error at {error['at']:.1f} s: {error['method']} {error['url']} "
              f"({error['kind']}) -> {error['status']}: {detail}")  # fmt: skip
    print_checks(figures["checks"], figures)


def print_checks(checks: dict[str, bool], figures: dict[str, Any]) -> None:
    notes = {}
    if figures:
        load, updates = figures["load"], figures["updates"]
        notes = {
            "no errors": f"{load['errors']} errors in {load['all']['requests']} requests",
            "no lost update": f"{updates['found']} of {updates['acknowledged']} acknowledged "
            "found exactly once",
            "no 'database is locked'": f"{figures['logs']['database_is_locked']} in the logs",
        }
    for name, passed in checks.items():
        note = f" ({notes[name]})" if name in notes else ""
        print(f"{'PASS' if passed else 'FAIL'}  {name}{note}")


# -- command line ---------------------------------------------------------------------------


def parse_settings(argv: list[str] | None = None) -> LoadSettings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 users for 10 s on a smaller data set")  # fmt: skip
    parser.add_argument("--users", type=int, help="simulated users, 1 coordinator (default 50)")
    parser.add_argument("--seconds", type=float, help="seconds of load per backend (default 60)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--workers", type=int, default=0,
                        help="gunicorn workers on PostgreSQL (default 2 x cores + 1)")  # fmt: skip
    parser.add_argument("--sqlite-workers", type=int, default=SQLITE_WORKERS,
                        help=f"gunicorn workers on SQLite (default {SQLITE_WORKERS})")  # fmt: skip
    args = parser.parse_args(argv)
    base = LoadSettings.quick() if args.quick else LoadSettings()
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    settings = LoadSettings(
        users=args.users or base.users, seconds=args.seconds or base.seconds, backends=backends,
        workers=args.workers, sqlite_workers=args.sqlite_workers, offices=base.offices,
        tasks=base.tasks,
    )  # fmt: skip
    if not 2 <= settings.users <= 500 or not 1 <= settings.seconds <= 3600:
        parser.error("--users must be 2..500 (one is the coordinator) and --seconds 1..3600")
    if not 0 <= settings.workers <= 64 or not 1 <= settings.sqlite_workers <= 64:
        parser.error("--workers must be 1..64 and --sqlite-workers 1..64")
    return settings


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    # SIGTERM unwinds like Ctrl-C, so gunicorn, the databases and the folders are removed.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))
    started = time.monotonic()
    try:
        figures = run(settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print()
    print_table(figures)
    print(f"load: {'all checks passed' if figures['passed'] else 'a check FAILED'} "
          f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
