"""Offices (科室, 站所, 村/社区) and the units they belong to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.glossary import OfficeKind
from app.core.office_rules import default_rules_for
from app.models import Office, OfficeRule, Unit, User
from app.notify.robots import mask_url, validate_dingtalk_secret, validate_webhook
from app.services import audit

OFFICE_AUDIT_FIELDS = [
    "unit_id", "name", "short_name", "kind", "mailbox", "leader_name", "leader_email", "head_id",
    "is_active",
]  # fmt: skip
# What the audit shows of a stored 钉钉 secret: that there is one, never the value.
SECRET_SET = "已设置"


@dataclass(frozen=True)
class RobotSettings:
    """An office's group robots as entered on the office form.

    DINGTALK_SECRET is a new secret; empty keeps the stored one (the form never shows it
    back), and CLEAR_DINGTALK_SECRET removes it.
    """

    wecom_webhook: str | None = None
    dingtalk_webhook: str | None = None
    dingtalk_secret: str | None = None
    clear_dingtalk_secret: bool = False


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
    robots: RobotSettings | None = None,
    actor: User | None,
    ip: str | None = None,
) -> Office:
    """Create an office (OFFICE is None) or change one; names are unique within a unit.

    ROBOTS None leaves the office's group robots as they are.
    """
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
    stored_secret = office.dingtalk_secret if office else None
    robot_values = _checked_robots(robots, stored_secret) if robots is not None else None
    before = _audit_snapshot(office) if office else None
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
    if robot_values is not None:
        office.wecom_webhook, office.dingtalk_webhook, office.dingtalk_secret = robot_values
    session.add(office)
    session.flush()
    after = _audit_snapshot(office)
    if stored_secret and office.dingtalk_secret and office.dingtalk_secret != stored_secret:
        after["dingtalk_secret_replaced"] = True  # "已设置" before and after hides a new key
    audit.record(
        session,
        actor=actor,
        action="office.update" if before else "office.create",
        object_type="office",
        object_id=office.id,
        before=before,
        after=after,
        ip=ip,
    )
    return office


def _checked_robots(
    robots: RobotSettings, stored_secret: str | None
) -> tuple[str | None, str | None, str | None]:
    """(企业微信 webhook, 钉钉 webhook, 钉钉 secret) to store, or a DomainError."""
    wecom = (robots.wecom_webhook or "").strip() or None
    dingtalk = (robots.dingtalk_webhook or "").strip() or None
    new_secret = (robots.dingtalk_secret or "").strip() or None
    for field, url in (("wecom_webhook", wecom), ("dingtalk_webhook", dingtalk)):
        problem = validate_webhook(url) if url else None
        if problem:
            raise DomainError(problem, field)
    if new_secret is not None:
        problem = validate_dingtalk_secret(new_secret)
        if problem:
            raise DomainError(problem, "dingtalk_secret")
        if robots.clear_dingtalk_secret:
            raise DomainError("填写了新密钥又勾选了“清除密钥”，请只选其一。", "dingtalk_secret")
        if dingtalk is None:
            raise DomainError("请同时填写钉钉自定义机器人 Webhook 地址。", "dingtalk_webhook")
    if dingtalk is None:
        # A secret without its robot is a credential kept for nothing.
        return wecom, None, None
    secret = new_secret or (None if robots.clear_dingtalk_secret else stored_secret)
    if secret is None:
        # This app always signs (加签): an unsigned 钉钉 robot accepts posts from anyone who
        # learns its address.
        message = (
            "钉钉机器人仍在使用，不能清除加签密钥；请先清空钉钉 Webhook 地址，或填写新密钥。"
            if robots.clear_dingtalk_secret and stored_secret
            else "使用钉钉机器人须填写加签密钥（SEC 开头）。"
        )
        raise DomainError(message, "dingtalk_secret")
    return wecom, dingtalk, secret


def _audit_snapshot(office: Office) -> dict[str, Any]:
    """The audited fields, with the robots' credentials masked and the secret only noted."""
    values = audit.snapshot(office, OFFICE_AUDIT_FIELDS)
    for name in ("wecom_webhook", "dingtalk_webhook"):
        url = getattr(office, name)
        values[name] = mask_url(url, keep=4) if url else None
    values["dingtalk_secret"] = SECRET_SET if office.dingtalk_secret else None
    return values


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
