"""Failed logins per source address: the lockout that stops one machine from guessing the
passwords of many accounts (the rules are app/core/security's AddressPolicy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.core.security import AddressPolicy, AddressState, after_address_failure, is_locked
from app.models import LoginThrottle, User
from app.services import audit

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def locked_until(session: Session, address: str, now: datetime) -> datetime | None:
    """Until when ADDRESS may not sign in (None: it may)."""
    row = session.get(LoginThrottle, address)
    if row is None or not is_locked(row.locked_until, now):
        return None
    return row.locked_until


def _row_for_update(session: Session, address: str) -> LoginThrottle:
    """ADDRESS's row, created when missing and locked for this transaction, so that concurrent
    failures from one address are each counted."""
    insert = _INSERTS[session.get_bind().dialect.name]
    session.execute(
        insert(LoginThrottle)
        .values(address=address, failures=0)
        .on_conflict_do_nothing(index_elements=["address"])
    )
    return session.exec(
        select(LoginThrottle)
        .where(LoginThrottle.address == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def record_failure(session: Session, address: str, policy: AddressPolicy, now: datetime) -> bool:
    """Count one failed login from ADDRESS; True when this failure locked the address."""
    if not policy.enabled:
        return False
    row = _row_for_update(session, address)
    state = after_address_failure(
        AddressState(row.failures, row.window_start, row.locked_until), policy, now
    )
    newly_locked = state.locked_until is not None and state.locked_until != row.locked_until
    row.failures, row.window_start, row.locked_until = (
        state.failures,
        state.window_start,
        state.locked_until,
    )
    session.add(row)
    session.flush()
    return newly_locked


def locked_addresses(session: Session, now: datetime) -> list[LoginThrottle]:
    """The addresses locked at NOW, the longest-locked last."""
    return list(
        session.exec(
            select(LoginThrottle)
            .where(col(LoginThrottle.locked_until) > now)
            .order_by(col(LoginThrottle.locked_until), LoginThrottle.address)
        )
    )


def unlock_address(
    session: Session, *, address: str, actor: User, ip: str | None, now: datetime
) -> bool:
    """Lift ADDRESS's lock and forget its failures; False when it was not locked."""
    row = session.get(LoginThrottle, address)
    if row is None or not is_locked(row.locked_until, now):
        return False
    before = {"address": address, "locked_until": row.locked_until.isoformat()}
    row.failures, row.window_start, row.locked_until = 0, None, None
    session.add(row)
    audit.record(
        session, actor=actor, action="login.ip_unlock", object_type="login_address",
        before=before, after={"address": address}, ip=ip,
    )  # fmt: skip
    return True
