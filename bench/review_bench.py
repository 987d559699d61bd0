"""The progress review (进度通报) on a synthetic data set: the page and both exports, each as a
ratio to the app's minimal page and to writing an empty .docx, measured in the same run.

The issue: "The review page and both exports for 20,000 tasks ... each as a ratio to the app's
minimal page or to writing an empty .docx, in the same run."

How:

1. A fresh temporary instance (SQLite, the real migrations): ``flask demo synth --offices 200
   --tasks 20000 --updates 20000`` (each update with one outcome) and a coordinator, through
   bench/common.build_synthetic (``--quick``: 20 offices, 2,000 tasks, 2,000 updates).
2. The app in this process (create_app on that instance, CSRF on), driven by Flask's test
   client signed in as the coordinator through the real login form; no network, so the
   figures are the app's own work, the baseline's too.
3. Round after round, each of these in turn, repeated within a small time budget (median of
   the repeats is the round's figure): GET /about (关于本系统, the smallest page a signed-in user
   gets: the baseline), GET /review/, GET /review/export.docx, GET /review/export.xlsx,
   render_docx of an empty DocumentSpec (writing an empty .docx: the second baseline), and
   the service alone (load_figures: the queries and the core, no template).
4. A figure is the median over the rounds; each ratio divides it by a baseline's median. The
   page's SQL statements are counted once (before_cursor_execute), with the size of what
   each answer carried (bytes of the page and of each file).

Nothing passes or fails; the figures are for reading. The instance is removed at the end.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from common import BENCH_COORDINATOR, BENCH_PASSWORD, build_synthetic, temporary_instance

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
BUDGET_SECONDS = 0.3  # repeats of one measurement in a round, at least one call
MAX_REPEATS = 200


def _sign_in(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_INPUT.search(page)
    if match is None:
        raise RuntimeError("the login form has no csrf_token field")
    response = client.post("/login", data={"csrf_token": match.group(1), "login": BENCH_COORDINATOR,
                                           "password": BENCH_PASSWORD, "next": ""},
                           follow_redirects=True)  # fmt: skip
    if response.status_code != 200:
        raise RuntimeError(f"sign-in failed (HTTP {response.status_code})")


def _get(client, path: str) -> Callable[[], int]:
    def call() -> int:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
        return len(response.data)

    return call


def _timed(call: Callable[[], Any]) -> float:
    """The median time of CALL, repeated within BUDGET_SECONDS."""
    times: list[float] = []
    started = time.perf_counter()
    while not times or (time.perf_counter() - started < BUDGET_SECONDS
                        and len(times) < MAX_REPEATS):  # fmt: skip
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def _count_statements(app, call: Callable[[], Any]) -> int:
    from sqlalchemy import event

    from app.db import get_engine

    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def _measures(app, client) -> dict[str, tuple[str, Callable[[], Any]]]:
    from zoneinfo import ZoneInfo

    from sqlmodel import Session

    from app.clock import utcnow
    from app.core.document import DocumentSpec
    from app.core.timefmt import local_today
    from app.db import get_engine
    from app.docx_render import render_docx
    from app.services import review as review_service
    from app.services.holidays import load_calendar

    timezone = app.config["TIMEZONE"]

    def service() -> None:
        with Session(get_engine(app)) as session:
            review_service.load_figures(session, as_of=local_today(utcnow(), timezone),
                                        calendar=load_calendar(session),
                                        tz=ZoneInfo(timezone))  # fmt: skip

    return {
        "about": ("GET /about (minimal page)", _get(client, "/about")),
        "empty_docx": ("render_docx(empty spec)", lambda: render_docx(DocumentSpec(()))),
        "page": ("GET /review/", _get(client, "/review/")),
        "docx": ("GET /review/export.docx", _get(client, "/review/export.docx")),
        "xlsx": ("GET /review/export.xlsx", _get(client, "/review/export.xlsx")),
        "service": ("load_figures (service only)", service),
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """Build the data set, measure, and return one row per measurement (JSON-ready)."""
    offices, tasks, updates, rounds = (20, 2000, 2000, 3) if quick else (200, 20000, 20000, 5)
    print(f"measuring the progress review ({tasks} tasks, {offices} offices, {rounds} rounds) ...",
          flush=True)  # fmt: skip
    with temporary_instance() as instance:
        _, synth_seconds = build_synthetic(instance, offices, tasks, updates)
        from app import create_app
        from app.db import dispose

        app = create_app(instance.app_config())
        try:
            client = app.test_client()
            _sign_in(client)
            measures = _measures(app, client)
            sizes = {key: call() for key, (_, call) in measures.items()}  # warm-up, and sizes
            statements = _count_statements(app, measures["page"][1])
            samples: dict[str, list[float]] = {key: [] for key in measures}
            for _ in range(rounds):
                for key, (_, call) in measures.items():
                    samples[key].append(_timed(call))
        finally:
            dispose(app)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    rows = []
    for key, (label, _) in measures.items():
        rows.append({
            "key": key, "label": label, "tasks": tasks, "offices": offices, "rounds": rounds,
            "median_seconds": medians[key], "best_seconds": min(samples[key]),
            "ratio_to_minimal_page": medians[key] / medians["about"],
            "ratio_to_empty_docx": medians[key] / medians["empty_docx"],
            "bytes": sizes[key] if isinstance(sizes[key], int) else None,
            "statements": statements if key == "page" else None,
            "synth_seconds": synth_seconds,
        })  # fmt: skip
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The figures for people."""
    first = rows[0]
    print(f"progress review on {first['tasks']:,} tasks and {first['offices']} offices, "
          f"median of {first['rounds']} rounds "
          f"(data set built in {first['synth_seconds']:.1f} s)")  # fmt: skip
    print(f"{'measure':<30}{'median ms':>11}{'best ms':>9}{'÷ /about':>10}{'÷ empty docx':>14}"
          f"{'bytes':>11}")  # fmt: skip
    for row in rows:
        size = f"{row['bytes']:,}" if row["bytes"] is not None else ""
        print(f"{row['label']:<30}{row['median_seconds'] * 1000:>11.1f}"
              f"{row['best_seconds'] * 1000:>9.1f}{row['ratio_to_minimal_page']:>10.1f}"
              f"{row['ratio_to_empty_docx']:>14.1f}{size:>11}")  # fmt: skip
    page = next(row for row in rows if row["key"] == "page")
    print(f"SQL statements of GET /review/: {page['statements']}")


if __name__ == "__main__":
    import json

    result = run("--quick" in sys.argv)
    print_table(result)
    print(json.dumps(result, ensure_ascii=False))
