"""Scheduler processes as they report themselves, for /healthz on every host."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, update
from sqlmodel import Session, select

from app.models import SchedulerNode

LEADER = "leader"
STANDBY = "standby"
FORGET_AFTER = timedelta(days=7)  # rows of processes gone this long are deleted
_TABLE = SchedulerNode.__table__


def beat(engine: Engine, node: str, role: str, now: datetime, *, ticked: bool = False) -> None:
    """NODE is alive in ROLE at NOW (and has just ticked, if TICKED): one short transaction."""
    values: dict[str, Any] = {"role": role, "seen_at": now}
    if ticked:
        values["last_tick_at"] = now
    with engine.begin() as connection:
        updated = connection.execute(update(_TABLE).where(_TABLE.c.node == node).values(values))
        if not updated.rowcount:
            connection.execute(insert(_TABLE).values(node=node, started_at=now, **values))
        connection.execute(delete(_TABLE).where(_TABLE.c.seen_at < now - FORGET_AFTER))


def state(session: Session, now: datetime, tick_seconds: int) -> dict[str, Any]:
    """The installation's scheduler for /healthz: ok while the leader has ticked within two
    intervals (and a minute), stale after that, missing when no scheduler ever ticked; the
    processes seen lately, leader and standbys, with their hosts."""
    nodes = session.exec(select(SchedulerNode).order_by(SchedulerNode.seen_at.desc())).all()
    ticks = [node for node in nodes if node.last_tick_at is not None]
    if not ticks:
        return {"status": "missing", "last_tick": None}
    leader = max(ticks, key=lambda node: node.last_tick_at)
    age = (now - leader.last_tick_at).total_seconds()
    recent = now - timedelta(seconds=2 * tick_seconds + 60)
    return {
        "status": "ok" if age <= 2 * tick_seconds + 60 else "stale",
        "last_tick": leader.last_tick_at.isoformat(),
        "age_seconds": int(age),
        "leader": leader.node,
        "nodes": [{"node": node.node, "role": node.role, "seen_at": node.seen_at.isoformat()}
                  for node in nodes if node.seen_at >= recent],
    }  # fmt: skip
