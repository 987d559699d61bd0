"""Benchmarks of 落实 Luoshi, reported as ratios against a baseline measured in the same run.

What is measured by the web benchmarks (``--only web``; all on 127.0.0.1, one threaded werkzeug
server per app, the same client):

1. healthz: requests per second of GET /healthz, the app's minimal page (one ``SELECT 1``
   through the per-request SQLModel session, plus the app's middleware), against Flask's own
   hello-world app (``Flask(__name__)`` with one route returning "Hello, World!").
2. tasks: how long ``flask demo synth`` takes to build a synthetic data set of a chosen size in
   a fresh, migrated instance, and the requests per second of a signed-in coordinator's task
   list GET /tasks/ (first page, 50 rows) on that data set, against the same baseline.

The task pages benchmark (``--only pages``, in bench/pages_bench.py) serves the app with
gunicorn on a data set of 100,000 progress updates and gives the median time of 我的任务, 全部任务
(first page and a filtered page) and the task page, each against /healthz, at 1 and 4 concurrent
clients, and the memory of each gunicorn worker.

The parser benchmarks (``--only parser``, in bench/parser_bench.py) time parse_report on the
report fixtures (.txt and .docx) and on 1 MB worst cases, each against merely reading and
decoding the same files with read_report_file.

The reminder benchmarks (``--only reminders``, in bench/reminders_bench.py) time one planning
sweep at 10,000 and 100,000 open tasks (the larger against the smaller, with the statements each
runs and their query plans), the delivery of 1,000 reminders to a local aiosmtpd against plain
smtplib sending the same messages, and a whole run (plan + deliver) on a 20,000-task data set.

The year-end benchmarks (``--only docx|review|draft``) time rendering a 30-page DocumentSpec
against writing an empty .docx; the review page and both exports on 20,000 tasks against the
minimal page (/about) and the empty .docx; and the draft of 1,000 closed tasks with 5,000 updates
against the empty .docx.

The load check (``--only load``, in bench/load_bench.py, with bench/loadgen.py) is not a ratio
and not part of ``all``: 50 simulated users for 60 s doing the daily flow against gunicorn on a
fresh PostgreSQL database, then on SQLite with 4 workers, with p50/p95 per request and PASS/FAIL
lines (no errors, no lost progress update, no "database is locked"). Run alone as
``bench/load_bench.py`` it exits non-zero when a check fails; here it only prints.

Why ratios: absolute requests per second depend on the machine, its load, the Python build and
the client that drives the load. A ratio against a baseline served by the same server and driven
by the same client in the same run cancels most of that, so figures from different machines and
days can be compared. Nothing here passes or fails; the figures are for reading.

The run is bounded: a fixed number of requests per measurement and a time cap, loopback only,
free ports only, and the temporary instances are removed (and gunicorn stopped) at the end.
``--quick`` takes about two minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docx_bench  # bench/docx_bench.py, next to this file
import draft_bench  # bench/draft_bench.py, next to this file
import load_bench  # bench/load_bench.py, next to this file
import pages_bench  # bench/pages_bench.py, next to this file
import parser_bench  # bench/parser_bench.py, next to this file
import reminders_bench  # bench/reminders_bench.py, next to this file
import review_bench  # bench/review_bench.py, next to this file
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
    sign_in,
    temporary_instance,
)

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "latest.json"


# -- settings -------------------------------------------------------------------------------


BENCHMARKS = ("web", "pages", "parser", "reminders", "docx", "review", "draft", "load")
# Run only when asked for by name: the load check takes minutes and a PostgreSQL server, and
# passes or fails rather than giving ratios.
NOT_IN_ALL = ("load",)
# The year-end benchmarks: each module's run(quick) prints nothing and returns rows.
YEAR_END = {"docx": docx_bench, "review": review_bench, "draft": draft_bench}


@dataclass(frozen=True)
class Settings:
    only: str
    offices: int
    tasks: int
    updates: int
    requests: int
    rounds: int
    workers: int
    time_cap: float
    warmup: float
    corpus_time: float
    page_updates: int
    page_time: float
    server_workers: int
    concurrency: tuple[int, ...]
    plan_tasks: tuple[int, ...]
    mails: int
    save: bool
    quick: bool = False

    def runs(self, benchmark: str) -> bool:
        return self.only == benchmark or (self.only == "all" and benchmark not in NOT_IN_ALL)


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Command-line flags; --quick changes the defaults of the flags not given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run of about two minutes")
    parser.add_argument("--only", choices=("all", *BENCHMARKS), default="all",
                        help="run only one benchmark (web, task pages, parser, reminders, "
                        "docx, review, draft; load only when named)")  # fmt: skip
    parser.add_argument("--offices", type=int, help="synthetic offices (default 200)")
    parser.add_argument("--tasks", type=int, help="synthetic tasks (default 20000)")
    parser.add_argument("--updates", type=int, help="synthetic progress updates "
                        "(default 20000 for web, 100000 for pages)")  # fmt: skip
    parser.add_argument("--requests", type=int, help="request cap per measurement (default 20000)")
    parser.add_argument("--rounds", type=int, help="rounds of every benchmark (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="client processes, web (default 4)")
    parser.add_argument("--time-cap", type=float, help="time cap per web measurement (default 6)")
    parser.add_argument("--corpus-time", type=float,
                        help="seconds per parser corpus measurement (default 1)")  # fmt: skip
    parser.add_argument("--page-time", type=float,
                        help="time cap per task page measurement (default 2)")  # fmt: skip
    parser.add_argument("--server-workers", type=int, default=2,
                        help="gunicorn workers for the task pages (default 2)")  # fmt: skip
    parser.add_argument("--concurrency", type=concurrency_levels, default=(1, 4),
                        help="concurrent clients for the task pages (default 1,4)")  # fmt: skip
    parser.add_argument("--plan-tasks", type=plan_sizes,
                        help="open tasks of the reminder planning sweeps "
                        "(default 10000,100000)")  # fmt: skip
    parser.add_argument("--mails", type=int, help="reminders delivered (default 1000)")
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS_FILE}")
    args = parser.parse_args(argv)
    defaults = (
        {"offices": 20, "tasks": 2000, "updates": 2000, "requests": 5000, "rounds": 3,
         "time_cap": 2.0, "warmup": 0.5, "corpus_time": 0.3, "page_updates": 10000,
         "page_time": 1.0, "plan_tasks": (1000, 10000), "mails": 200}
        if args.quick
        else {"offices": 200, "tasks": 20000, "updates": 20000, "requests": 20000, "rounds": 5,
              "time_cap": 6.0, "warmup": 1.5, "corpus_time": 1.0, "page_updates": 100000,
              "page_time": 2.0, "plan_tasks": (10000, 100000), "mails": 1000}
    )  # fmt: skip
    args.page_updates = args.updates  # one --updates for both data sets, when given
    values = {key: getattr(args, key, None) for key in defaults}
    values = {key: defaults[key] if value is None else value for key, value in values.items()}
    settings = Settings(only=args.only, workers=args.workers, server_workers=args.server_workers,
                        concurrency=args.concurrency, save=not args.no_save, quick=args.quick,
                        **values)  # fmt: skip
    check_settings(parser, settings)
    return settings


def check_settings(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """Refuse sizes that make no sense or that would leave the run unbounded."""
    if settings.offices < 1 or min(settings.tasks, settings.updates) < 0:
        parser.error("--offices must be at least 1, --tasks and --updates at least 0")
    if not 1 <= settings.workers <= 64 or not 1 <= settings.rounds <= 20:
        parser.error("--workers must be 1..64 and --rounds 1..20")
    if not 1 <= settings.requests <= 1_000_000 or not 0.5 <= settings.time_cap <= 120:
        parser.error("--requests must be 1..1000000 and --time-cap 0.5..120 seconds")
    if not 0.05 <= settings.corpus_time <= 60:
        parser.error("--corpus-time must be 0.05..60 seconds")
    if not 0.2 <= settings.page_time <= 120 or not 1 <= settings.server_workers <= 16:
        parser.error("--page-time must be 0.2..120 seconds and --server-workers 1..16")
    if settings.runs("pages") and settings.tasks < 1:
        parser.error("the task pages need --tasks of at least 1")
    if not 1 <= settings.mails <= 100_000:
        parser.error("--mails must be 1..100000")


def plan_sizes(text: str) -> tuple[int, ...]:
    """The reminder planning sizes, "10000,100000" -> (10000, 100000): 2 to 4 of 1..1000000."""
    try:
        sizes = tuple(sorted(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError("a list of numbers such as 10000,100000") from None
    if not 2 <= len(sizes) <= 4 or not all(1 <= size <= 1_000_000 for size in sizes):
        raise argparse.ArgumentTypeError("2 to 4 sizes, each of 1..1000000 open tasks")
    return sizes


def concurrency_levels(text: str) -> tuple[int, ...]:
    """The levels of concurrency, "1,4" -> (1, 4): 1 to 4 levels of 1..64 clients each."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("a list of numbers such as 1,4") from None
    if not 1 <= len(levels) <= 4 or not all(1 <= level <= 64 for level in levels):
        raise argparse.ArgumentTypeError("1 to 4 levels, each of 1..64 clients")
    return levels


# -- the synthetic data set ------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    offices: int
    tasks: int
    updates: int
    migrate_seconds: float
    synth_seconds: float


def prepare_dataset(instance: Instance, settings: Settings) -> Dataset:
    """Initialise and migrate INSTANCE, time the synthetic data set, add the coordinator."""
    migrate_seconds, synth_seconds = build_synthetic(
        instance, settings.offices, settings.tasks, settings.updates
    )
    return Dataset(settings.offices, settings.tasks, settings.updates,
                   migrate_seconds, synth_seconds)  # fmt: skip


# -- servers --------------------------------------------------------------------------------


def hello_world_app() -> Any:
    """Flask's own minimal application: the baseline."""
    from flask import Flask

    hello = Flask(__name__)

    @hello.route("/")
    def hello_world() -> str:
        return "Hello, World!"

    return hello


@contextmanager
def serve(app: Any) -> Iterator[int]:
    """Serve APP on a free loopback port with werkzeug's threaded server; yield the port."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="bench-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    target: Target
    count: int
    start_at: float
    deadline: float


@dataclass(frozen=True)
class WorkerResult:
    ok: int
    errors: int
    started: float
    finished: float


def ignore_sigint() -> None:
    """Client processes leave Ctrl-C to the runner, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_job(job: Job) -> WorkerResult:
    """Send up to JOB.count GET requests on one keep-alive connection until the deadline."""
    headers = {"User-Agent": USER_AGENT, **job.target.headers}
    ok = errors = 0
    time.sleep(max(0.0, job.start_at - time.monotonic()))
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, job.target.port, timeout=REQUEST_TIMEOUT_SECONDS)
    for _ in range(job.count):
        if time.monotonic() >= job.deadline:
            break
        try:
            connection.request("GET", job.target.path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            continue
        if response.status == 200:
            ok += 1
        else:
            errors += 1
        if response.will_close:
            connection.close()
    connection.close()
    return WorkerResult(ok, errors, started, time.monotonic())


@dataclass(frozen=True)
class Measurement:
    ok: int
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def measure(pool: Any, target: Target, requests: int, time_cap: float, workers: int) -> Measurement:
    """Drive TARGET with WORKERS client processes: REQUESTS in all, for at most TIME_CAP s."""
    start_at = time.monotonic() + 0.1
    shares = [requests // workers + (1 if i < requests % workers else 0) for i in range(workers)]
    jobs = [Job(target, share, start_at, start_at + time_cap) for share in shares if share]
    results = pool.map_async(run_job, jobs).get(timeout=time_cap + REQUEST_TIMEOUT_SECONDS + 10)
    seconds = max(r.finished for r in results) - min(r.started for r in results)
    return Measurement(sum(r.ok for r in results), sum(r.errors for r in results), seconds)


# -- checks ---------------------------------------------------------------------------------


def check_page(target: Target, expected: str) -> None:
    """Fail early unless TARGET answers 200 with EXPECTED in its body."""
    status, body = fetch(target.port, target.path, target.headers)
    if status != 200 or expected not in body:
        raise RuntimeError(f"{target.label}: HTTP {status}, expected text missing")


# -- the run --------------------------------------------------------------------------------


@dataclass
class Series:
    target: Target
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def median_rps(self) -> float:
        return statistics.median(m.rps for m in self.measurements)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.measurements)


def run_rounds(pool: Any, targets: list[Target], settings: Settings) -> list[Series]:
    """Warm every target up, then measure them in turn, round after round."""
    for target in targets:
        measure(pool, target, settings.requests, settings.warmup, settings.workers)
    series = [Series(target) for target in targets]
    for number in range(1, settings.rounds + 1):
        for entry in series:
            result = measure(pool, entry.target, settings.requests, settings.time_cap,
                             settings.workers)  # fmt: skip
            entry.measurements.append(result)
            print(f"  round {number}: {entry.target.label:<30} {result.rps:9.1f} rps "
                  f"({result.ok} in {result.seconds:.2f} s)", flush=True)  # fmt: skip
    return series


def benchmark(pool: Any, instance: Instance, settings: Settings) -> list[Series]:
    """Serve the baseline and the app side by side and measure the three pages."""
    from app import create_app
    from app.db import dispose

    luoshi = create_app(instance.app_config())
    try:
        with serve(hello_world_app()) as hello_port, serve(luoshi) as app_port:
            cookie = sign_in(app_port, BENCH_COORDINATOR, BENCH_PASSWORD)
            targets = [
                Target("Flask hello world (baseline)", hello_port, "/"),
                Target("GET /healthz", app_port, "/healthz"),
                Target("GET /tasks/ (coordinator)", app_port, "/tasks/", {"Cookie": cookie}),
            ]
            check_page(targets[0], "Hello, World!")
            check_page(targets[1], '"ok"')
            check_page(targets[2], "合成任务" if settings.tasks else "</html>")
            return run_rounds(pool, targets, settings)
    finally:
        dispose(luoshi)


def ratio_range(page: Series, baseline: Series) -> tuple[float, float]:
    """The smallest and largest ratio of one round's figure to the same round's baseline."""
    ratios = [
        m.rps / b.rps if b.rps else 0.0
        for m, b in zip(page.measurements, baseline.measurements, strict=True)
    ]
    return min(ratios), max(ratios)


def summarise(series: list[Series], dataset: Dataset) -> dict[str, Any]:
    """The figures of the web benchmarks, as one JSON-ready mapping."""
    baseline, healthz, tasks = series
    hello_rps = baseline.median_rps

    def page(entry: Series) -> dict[str, Any]:
        low, high = ratio_range(entry, baseline)
        return {"rps": round(entry.median_rps, 1),
                "ratio": round(entry.median_rps / hello_rps, 4) if hello_rps else None,
                "ratio_min": round(low, 4), "ratio_max": round(high, 4),
                "errors": entry.errors}  # fmt: skip

    return {
        "hello": {"rps": round(hello_rps, 1), "errors": baseline.errors},
        "healthz": page(healthz),
        "tasks": page(tasks),
        "dataset": {
            **asdict(dataset),
            "synth_seconds": round(dataset.synth_seconds, 3),
            "migrate_seconds": round(dataset.migrate_seconds, 3),
        },  # fmt: skip
    }


def header(settings: Settings) -> dict[str, Any]:
    """What every run records: when, on what machine, with which settings."""
    return {
        "benchmark": "luoshi",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },  # fmt: skip
        "settings": asdict(settings),
    }


def print_tables(figures: dict[str, Any]) -> None:
    """Tables for people; the JSON line that follows them is for programs."""
    print()
    print(f"落实 Luoshi benchmark: {figures['machine']['cpus']} CPUs, Python "
          f"{figures['machine']['python']}")  # fmt: skip
    print()
    if "tasks" in figures:
        print_web_table(figures)
    if "pages" in figures:
        pages_bench.print_table(figures["pages"])
    if "parser" in figures:
        parser_bench.print_table(figures["parser"])
    if "reminders" in figures:
        reminders_bench.print_table(figures["reminders"])
    for name, module in YEAR_END.items():
        if name in figures:
            module.print_table(figures[name])
    if "load" in figures:
        load_bench.print_table(figures["load"])


def print_web_table(figures: dict[str, Any]) -> None:
    """The web pages against Flask's hello world."""
    data = figures["dataset"]
    print(f"web: {figures['settings']['workers']} client processes, "
          f"median of {figures['settings']['rounds']} rounds")  # fmt: skip
    print(f"data set: {data['offices']} offices, {data['tasks']} tasks, {data['updates']} updates;"
          f" demo synth took {data['synth_seconds']:.2f} s"
          f" (db upgrade {data['migrate_seconds']:.2f} s)")  # fmt: skip
    print()
    print(f"{'page':<32}{'req/s':>10}{'ratio to hello':>16}{'ratio range':>18}{'errors':>8}")
    print(f"{'Flask hello world (baseline)':<32}{figures['hello']['rps']:>10.1f}{1:>16.3f}"
          f"{'':>18}{figures['hello']['errors']:>8}")  # fmt: skip
    for key, label in (("healthz", "GET /healthz"), ("tasks", "GET /tasks/ (coordinator, 50)")):
        row = figures[key]
        spread = f"{row['ratio_min']:.3f}-{row['ratio_max']:.3f}"
        print(f"{label:<32}{row['rps']:>10.1f}{row['ratio']:>16.3f}{spread:>18}{row['errors']:>8}")
    print()


def save(figures: dict[str, Any]) -> None:
    """Keep the figures in bench/results/latest.json (git-ignored)."""
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", "utf-8")


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that servers, workers and the temp dir are cleaned up."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    stop_on_sigterm()
    sys.path.insert(0, str(REPO_ROOT))
    figures = header(settings)
    try:
        if settings.runs("parser"):
            figures["parser"] = parser_bench.run(settings.rounds, settings.corpus_time)
        if settings.runs("web"):
            figures.update(run_web(settings))
        if settings.runs("pages"):
            figures["pages"] = pages_bench.run(pages_settings(settings))
        if settings.runs("reminders"):
            figures["reminders"] = reminders_bench.run(reminders_settings(settings))
        for name, module in YEAR_END.items():
            if settings.runs(name):
                figures[name] = module.run(settings.quick)
        if settings.runs("load"):
            load = load_bench.LoadSettings.quick() if settings.quick else load_bench.LoadSettings()
            figures["load"] = load_bench.run(load)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print_tables(figures)
    if settings.save:
        save(figures)
    print(json.dumps(figures, ensure_ascii=False, separators=(",", ":")))
    return 0


def run_web(settings: Settings) -> dict[str, Any]:
    """Prepare the data set, measure the pages, return the figures; clean up in every case."""
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(settings.workers, initializer=ignore_sigint)
    with pool, temporary_instance() as instance:
        print(f"preparing a data set in {instance.path} ...", flush=True)
        dataset = prepare_dataset(instance, settings)
        print(f"measuring ({settings.rounds} rounds, {settings.requests} requests or "
              f"{settings.time_cap:g} s each) ...", flush=True)  # fmt: skip
        series = benchmark(pool, instance, settings)
    return summarise(series, dataset)


def pages_settings(settings: Settings) -> pages_bench.PagesSettings:
    """What the task pages benchmark takes from the command line."""
    return pages_bench.PagesSettings(
        offices=settings.offices, tasks=settings.tasks, updates=settings.page_updates,
        requests=settings.requests, rounds=settings.rounds, time_cap=settings.page_time,
        warmup=settings.warmup, server_workers=settings.server_workers,
        concurrency=settings.concurrency,
    )  # fmt: skip


def reminders_settings(settings: Settings) -> reminders_bench.RemindersSettings:
    """What the reminder benchmarks take from the command line."""
    return reminders_bench.RemindersSettings(
        plan_sizes=settings.plan_tasks, offices=settings.offices, mails=settings.mails,
        whole_tasks=settings.tasks, whole_offices=settings.offices, rounds=settings.rounds,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
