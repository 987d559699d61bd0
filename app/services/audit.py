"""The audit trail: every change writes an AuditEvent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, SQLModel

from app.clock import utcnow
from app.models import AuditEvent, User


def snapshot(obj: SQLModel, fields: list[str]) -> dict[str, Any]:
    """FIELDS of OBJ as JSON-ready values, for the before/after of an audit event."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, frozenset | set):
            value = sorted(str(v) for v in value)
        values[name] = value
    return values


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    object_type: str | None = None,
    object_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
    actor_login: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one audit event to SESSION."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_login=actor.login if actor else actor_login,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        ip=ip,
        at=at or utcnow(),
    )
    session.add(event)
    return event
