"""A smoke run of the reminder benchmarks (bench/reminders_bench.py) at a tiny size.

Only that the code runs end to end and measures what it says: nothing here looks at a timing.
SQLite only, so that it takes a few seconds; the benchmark itself also runs on PostgreSQL when
BENCH_DATABASE_URL or TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.delitem(sys.modules, "reminders_bench", raising=False)
    import reminders_bench

    return reminders_bench


def test_a_tiny_run(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    settings = bench.RemindersSettings(
        plan_sizes=(150, 600), offices=5, mails=12, whole_tasks=200, whole_offices=5, rounds=1
    )
    figures = bench.run(settings)
    bench.print_table(figures)
    assert list(figures["backends"]) == ["sqlite"]
    parts = figures["backends"]["sqlite"]

    planning = parts["planning"]
    assert planning["same_due"]
    sizes = list(planning["sizes"].values())
    assert [s["open_tasks"] for s in sizes] == [150, 600]
    assert sizes[0]["due"] > 0 and sizes[0]["outbox_rows"] > 0
    # Every statement that reads the task table goes through an index: (status, deadline) for
    # deadlines, (recurrence, status) for recurring duties.
    assert planning["task_reads"] >= 1
    assert planning["task_reads_through_index"] == planning["task_reads"]
    assert planning["task_table_scans"] == 0

    delivery = parts["delivery"]
    assert delivery["mails"] == 12
    assert delivery["server_received"] == 12 * 3  # plain, plain with NOOPs, the outbox
    assert delivery["plain_seconds"] > 0 and delivery["outbox_seconds"] > 0

    whole = parts["whole"]
    assert whole["sent"] == whole["outbox_rows"] > 0
    assert whole["failed"] == whole["retried"] == 0

    printed = capsys.readouterr().out
    assert "EXPLAIN" not in printed  # the plans are shown as "plan: …"
    assert "plan: SEARCH task USING INDEX ix_task_status_deadline" in printed
    assert "plan: SEARCH task USING INDEX ix_task_recurrence_status" in printed
    assert "ratio plain ÷ outbox" in printed
