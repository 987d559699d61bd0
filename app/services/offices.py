"""Offices (科室, 站所, 村/社区) and the units they belong to."""

from __future__ import annotations

from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.glossary import OfficeKind
from app.core.office_rules import default_rules_for
from app.models import Office, OfficeRule, Unit, User
from app.services import audit

OFFICE_AUDIT_FIELDS = [
    "unit_id", "name", "short_name", "kind", "mailbox", "leader_name", "leader_email", "head_id",
    "is_active",
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
    head_id: int | None = None,
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
    office.head_id = _checked_head(session, office, head_id)
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


def _checked_head(session: Session, office: Office, head_id: int | None) -> int | None:
    if head_id is None:
        return None
    head = session.get(User, head_id)
    if head is None or not head.is_active or head.office_id != office.id:
        raise DomainError("科室负责人须为本科室的在用账号。", "head_id")
    return head_id


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


def save_rule(
    session: Session, *, office_id: int, keyword: str, position: int, actor: User | None,
    ip: str | None = None,
) -> OfficeRule:  # fmt: skip
    """Add a keyword rule proposing OFFICE_ID as lead office; one keyword once per office."""
    keyword = keyword.strip()
    if not keyword:
        raise DomainError("请填写关键词。", "keyword")
    if session.get(Office, office_id) is None:
        raise DomainError("所选科室不存在。", "office_id")
    clash = session.exec(
        select(OfficeRule).where(OfficeRule.office_id == office_id, OfficeRule.keyword == keyword)
    ).first()
    if clash is not None:
        raise DomainError(f"该科室已有关键词“{keyword}”。", "keyword")
    rule = OfficeRule(office_id=office_id, keyword=keyword, position=position)
    session.add(rule)
    session.flush()
    audit.record(
        session, actor=actor, action="office_rule.create", object_type="office_rule",
        object_id=rule.id, after={"office_id": office_id, "keyword": keyword,
                                  "position": position}, ip=ip,
    )  # fmt: skip
    return rule


def delete_rule(session: Session, *, rule: OfficeRule, actor: User | None, ip: str | None) -> None:
    """Remove a keyword rule."""
    audit.record(
        session, actor=actor, action="office_rule.delete", object_type="office_rule",
        object_id=rule.id, before={"office_id": rule.office_id, "keyword": rule.keyword,
                                   "position": rule.position}, ip=ip,
    )  # fmt: skip
    session.delete(rule)
    session.flush()


def install_default_rules(session: Session, *, unit_id: int, actor: User | None = None) -> int:
    """Add the shipped keyword rules for the unit's offices; existing rules are kept."""
    offices: dict[str, int] = {}
    for office in session.exec(select(Office).where(Office.unit_id == unit_id)):
        for name in filter(None, (office.short_name, office.name)):
            offices.setdefault(name, office.id)
    existing = {
        (r.office_id, r.keyword)
        for r in session.exec(
            select(OfficeRule).where(OfficeRule.office_id.in_(list(offices.values())))
        )
    }
    added = 0
    for keyword, office_id, position in default_rules_for(offices):
        if (office_id, keyword) not in existing:
            session.add(OfficeRule(office_id=office_id, keyword=keyword, position=position))
            added += 1
    session.flush()
    if added:
        audit.record(session, actor=actor, action="office_rule.defaults", object_type="unit",
                     object_id=unit_id, after={"added": added})  # fmt: skip
    return added
