"""Admin-editable settings, stored as JSON under a fixed key (the reminder policy, …)."""

from __future__ import annotations

from sqlmodel import Session

from app.clock import utcnow
from app.core.reminder_policy import ReminderPolicy
from app.models import Setting, User
from app.services import audit

REMINDER_POLICY = "reminder_policy"


def reminder_policy(session: Session) -> ReminderPolicy:
    """The policy in force: the stored one, or the defaults when nobody has changed it."""
    row = session.get(Setting, REMINDER_POLICY)
    return ReminderPolicy.from_settings(row.value if row else None)


def save_reminder_policy(
    session: Session, policy: ReminderPolicy, *, actor: User | None, ip: str | None = None
) -> bool:
    """Store POLICY; False (and nothing written) when it is the policy already in force."""
    before = reminder_policy(session).to_settings()
    after = policy.to_settings()
    if before == after:
        return False
    row = session.get(Setting, REMINDER_POLICY) or Setting(key=REMINDER_POLICY)
    row.value, row.updated_at = after, utcnow()
    row.updated_by_id = actor.id if actor else None
    session.add(row)
    audit.record(
        session, actor=actor, action="settings.reminder_policy", object_type="setting",
        before=before, after=after, ip=ip,
    )  # fmt: skip
    return True
