"""The daily flow under load, for real at a small size (bench/loadgen.py, bench/load_bench.py).

Ten simulated users for six seconds against gunicorn (production config, 4 workers): sign in,
我的任务, a task page, a progress update through the page's form, on SQLite and on PostgreSQL.
Nothing may fail, every acknowledged update must be in the database exactly once, and gunicorn's
logs must hold no "database is locked", traceback or worker timeout. Nothing here looks at a
timing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.dbutil import postgres_server_or_skip

BENCH = Path(__file__).resolve().parent.parent / "bench"
USERS = 10  # one of them the coordinator
SECONDS = 6.0
WORKERS = 4
# Far below what even a slow machine acknowledges in 8 s (hundreds), far above zero.
MIN_ACKNOWLEDGED = 20


@pytest.fixture
def loadgen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, "loadgen", raising=False)
    import loadgen

    return loadgen


def run_daily_flow(loadgen: ModuleType, site) -> None:
    """Populate SITE, serve it, run the users, and check the answers, the rows and the logs."""
    population = loadgen.populate(site, office_users=USERS - 1, coordinators=1, offices=10,
                                  tasks=500)  # fmt: skip
    with loadgen.start_gunicorn(site.environ(), loadgen.free_port(), WORKERS) as server:
        result = loadgen.run_users([server.base_url], population.accounts, SECONDS)
    counted = loadgen.check_updates(site.database_url, result.acknowledged)
    logs = loadgen.scan_logs(server.logs)

    assert result.error_count == 0 and result.stuck_users == 0, result.errors
    assert len(result.acknowledged) >= MIN_ACKNOWLEDGED, result.summary()
    assert set(result.kinds()) >= {"sign_in", "mine", "task", "update", "index", "review"}
    assert counted.missing == [] and counted.duplicated == []
    assert len(counted.found) == len(result.acknowledged)
    assert counted.unacknowledged == []
    assert logs.locked == 0, logs.excerpts
    assert logs.tracebacks == 0 and logs.worker_timeouts == 0, logs.excerpts


@pytest.mark.slow
def test_the_daily_flow_on_sqlite_with_four_workers(loadgen: ModuleType) -> None:
    with loadgen.temporary_site() as site:
        run_daily_flow(loadgen, site)


@pytest.mark.slow
def test_the_daily_flow_on_postgresql(loadgen: ModuleType) -> None:
    from sqlalchemy import make_url

    server = postgres_server_or_skip("the load test on PostgreSQL")
    database = f"{make_url(server).database}_load"
    with loadgen.temporary_site(server, database) as site:
        run_daily_flow(loadgen, site)
