"""Offices (科室, 站所, 村/社区) and the units they belong to."""

from __future__ import annotations

from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.glossary import OfficeKind
from app.models import Office, Unit, User
from app.services import audit

OFFICE_AUDIT_FIELDS = [
    "unit_id", "name", "short_name", "kind", "mailbox", "leader_name", "leader_email", "is_active",
]  # fmt: skip


def save_office(
    session: Session,
    *,
    office: Office | None,
    unit_id: int,
    name: str,
    short_name: str | None,
    kind: str,
    mailbox: str | None,
    leader_name: str | None,
    leader_email: str | None,
    is_active: bool = True,
    actor: User | None,
    ip: str | None = None,
) -> Office:
    """Create an office (OFFICE is None) or change one; names are unique within a unit."""
    name = name.strip()
    if session.get(Unit, unit_id) is None:
        raise DomainError("所选单位不存在。", "unit_id")
    if kind not in {k.value for k in OfficeKind}:
        raise DomainError("科室类别无效。", "kind")
    clash = session.exec(
        select(Office).where(Office.unit_id == unit_id, Office.name == name)
    ).first()
    if clash is not None and (office is None or clash.id != office.id):
        raise DomainError(f"本单位已有名为“{name}”的科室。", "name")
    before = audit.snapshot(office, OFFICE_AUDIT_FIELDS) if office else None
    office = office or Office(unit_id=unit_id, name=name)
    office.unit_id = unit_id
    office.name = name
    office.short_name = (short_name or "").strip() or None
    office.kind = kind
    office.mailbox = (mailbox or "").strip() or None
    office.leader_name = (leader_name or "").strip() or None
    office.leader_email = (leader_email or "").strip() or None
    office.is_active = is_active
    session.add(office)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="office.update" if before else "office.create",
        object_type="office",
        object_id=office.id,
        before=before,
        after=audit.snapshot(office, OFFICE_AUDIT_FIELDS),
        ip=ip,
    )
    return office


def list_offices(session: Session, *, active_only: bool = False) -> list[Office]:
    """Offices in a stable order (kind, then name)."""
    query = select(Office).order_by(Office.kind, Office.id)
    if active_only:
        query = query.where(Office.is_active)
    return list(session.exec(query))


def ensure_unit(session: Session, name: str) -> Unit:
    """The unit called NAME, created if missing."""
    unit = session.exec(select(Unit).where(Unit.name == name)).first()
    if unit is None:
        unit = Unit(name=name)
        session.add(unit)
        session.flush()
    return unit
