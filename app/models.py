"""Database tables (storage only: rules live in app/core, use cases in app/services).

Conventions: every string has a max_length; timestamps are aware UTC datetimes (SQLModel's
UTCDateTime refuses naive ones); deadlines and holidays are dates; constraint names follow the
metadata naming convention so that migrations can address them on SQLite too.
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, Relationship, SQLModel

from app.clock import utcnow
from app.core.glossary import OfficeKind, ReportStatus
from app.core.lifecycle import TaskStatus
from app.core.roles import Role, parse_roles

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _fk(target: str, *, nullable: bool, ondelete: str | None = None) -> Column:
    """A foreign-key column; CASCADE only where the child is part of its parent."""
    return Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class Unit(SQLModel, table=True):
    """A government unit that writes the annual report (乡镇, 街道, 部门)."""

    __tablename__ = "unit"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    short_name: str | None = Field(default=None, max_length=50)
    parent_id: int | None = Field(default=None, sa_column=_fk("unit.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Office(SQLModel, table=True):
    """A body that can own tasks: 科室, 站所 or 村/社区."""

    __tablename__ = "office"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(sa_column=_fk("unit.id", nullable=False))
    name: str = Field(max_length=100)
    short_name: str | None = Field(default=None, max_length=50)
    kind: str = Field(default=OfficeKind.SECTION.value, max_length=20)
    mailbox: str | None = Field(default=None, max_length=254)
    leader_name: str | None = Field(default=None, max_length=50)
    leader_email: str | None = Field(default=None, max_length=254)
    # Optional group robots (企业微信 / 钉钉): the webhook URLs and 钉钉's signing secret.
    wecom_webhook: str | None = Field(default=None, max_length=500)
    dingtalk_webhook: str | None = Field(default=None, max_length=500)
    dingtalk_secret: str | None = Field(default=None, max_length=200)
    # 科室负责人: a user of this office, proposed as the owner of the office's new tasks.
    # (The FK closes a cycle with app_user.office_id, hence use_alter.)
    head_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("app_user.id", use_alter=True, name="fk_office_head_id_app_user"),
            nullable=True,
        ),
    )
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)

    users: list["User"] = Relationship(
        back_populates="office", sa_relationship_kwargs={"foreign_keys": "[User.office_id]"}
    )


class OfficeRule(SQLModel, table=True):
    """A keyword that proposes an office as the lead of a new task (信访 -> 信访办)."""

    __tablename__ = "office_rule"
    __table_args__ = (UniqueConstraint("office_id", "keyword"),)
    id: int | None = Field(default=None, primary_key=True)
    office_id: int = Field(sa_column=_fk("office.id", nullable=False, ondelete="CASCADE"))
    keyword: str = Field(max_length=50)
    # Lower positions are tried first, so specific keywords can win over general ones.
    position: int = Field(default=100)


class User(SQLModel, table=True):
    """A person who signs in. Also the Flask-Login user object."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=50)
    email: str | None = Field(default=None, max_length=254)
    office_id: int | None = Field(default=None, sa_column=_fk("office.id", nullable=True))
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)
    last_login_at: datetime | None = Field(default=None)
    password_changed_at: datetime | None = Field(default=None)
    must_change_password: bool = Field(default=False)
    # Bumped to end every open session of this user at once (logout everywhere, deactivation,
    # a password change or reset).
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)

    office: Office | None = Relationship(
        back_populates="users", sa_relationship_kwargs={"foreign_keys": "[User.office_id]"}
    )
    role_rows: list["UserRole"] = Relationship(
        back_populates="user", sa_relationship_kwargs={"cascade": "all, delete-orphan"}
    )

    @property
    def roles(self) -> frozenset[Role]:
        return parse_roles(row.role for row in self.role_rows)

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(max_length=20, primary_key=True)

    user: User = Relationship(back_populates="role_rows")


class Report(SQLModel, table=True):
    """One annual 法治政府建设情况报告, imported or drafted."""

    __tablename__ = "report"
    # The same file is never imported twice for a unit.
    __table_args__ = (UniqueConstraint("unit_id", "source_sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(sa_column=_fk("unit.id", nullable=False))
    year: int = Field(index=True)
    title: str = Field(max_length=200)
    source_filename: str | None = Field(default=None, max_length=255)
    source_text: str = Field(default="", sa_type=Text)
    source_sha256: str | None = Field(default=None, max_length=64)
    structure: dict | None = Field(default=None, sa_type=JSON)
    status: str = Field(default=ReportStatus.IMPORTED.value, max_length=20)
    created_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class CommitmentProblem(SQLModel, table=True):
    """Which 存在问题 a 下一步打算 item answers."""

    __tablename__ = "commitment_problem"
    commitment_id: int = Field(
        sa_column=Column(Integer, ForeignKey("commitment.id", ondelete="CASCADE"), primary_key=True)
    )
    problem_id: int = Field(
        sa_column=Column(Integer, ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True)
    )


class Problem(SQLModel, table=True):
    """One 存在问题 item of a report."""

    __tablename__ = "problem"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(sa_column=_fk("report.id", nullable=False, ondelete="CASCADE"))
    position: int
    marker: str = Field(default="", max_length=20)
    lead: str = Field(max_length=200)
    text: str = Field(sa_type=Text)


class Commitment(SQLModel, table=True):
    """One 下一步打算 item of a report."""

    __tablename__ = "commitment"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(sa_column=_fk("report.id", nullable=False, ondelete="CASCADE"))
    position: int
    marker: str = Field(default="", max_length=20)
    lead: str = Field(max_length=200)
    text: str = Field(sa_type=Text)
    time_phrase: str | None = Field(default=None, max_length=50)
    office_hint: str | None = Field(default=None, max_length=200)
    # Where the item stands in Report.source_text (character offsets), for highlighting.
    source_start: int | None = Field(default=None)
    source_end: int | None = Field(default=None)
    # Last year's commitment this one repeats (same or near-same lead), flagged at import.
    repeats_id: int | None = Field(default=None, sa_column=_fk("commitment.id", nullable=True))

    problems: list[Problem] = Relationship(link_model=CommitmentProblem)


class TaskCooperatingOffice(SQLModel, table=True):
    """A 配合单位 of a task."""

    __tablename__ = "task_cooperating_office"
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    )
    office_id: int = Field(
        sa_column=Column(Integer, ForeignKey("office.id"), primary_key=True, index=True)
    )


class Task(SQLModel, table=True):
    """A tracked piece of work made from a commitment."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_status_deadline", "status", "deadline"),
        # The unfiltered list pages through tasks by deadline: stop after a page, not a sort.
        Index("ix_task_deadline_id", "deadline", "id"),
        Index("ix_task_lead_office_id_status", "lead_office_id", "status"),
        # Recurring duties (每月/每季度) for the reminder sweep, without reading every open task.
        Index("ix_task_recurrence_status", "recurrence", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    commitment_id: int | None = Field(default=None, sa_column=_fk("commitment.id", nullable=True))
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    lead_office_id: int = Field(sa_column=Column(Integer, ForeignKey("office.id"), nullable=False))
    owner_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    deadline: date
    # A recurring progress-report duty (monthly, quarterly, half_yearly) from 每月/每季度.
    recurrence: str | None = Field(default=None, max_length=20)
    status: str = Field(default=TaskStatus.ASSIGNED.value, max_length=20)
    # Optimistic locking: SQLAlchemy adds "AND version = :old" to every UPDATE.
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = Field(default=None)

    commitment: Commitment | None = Relationship()
    lead_office: Office = Relationship(
        sa_relationship_kwargs={"foreign_keys": "[Task.lead_office_id]"}
    )
    owner: User | None = Relationship()
    cooperating_offices: list[Office] = Relationship(link_model=TaskCooperatingOffice)

    @declared_attr
    def __mapper_args__(cls) -> dict:  # noqa: N805 - declared_attr receives the class
        return {"version_id_col": cls.__table__.c.version}


class DeadlineChange(SQLModel, table=True):
    """The history of a task's deadline, with the reason for each change."""

    __tablename__ = "deadline_change"
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=_fk("task.id", nullable=False, ondelete="CASCADE"))
    kind: str = Field(default="set", max_length=20)
    old_deadline: date | None = Field(default=None)
    new_deadline: date
    reason: str = Field(default="", sa_type=Text)
    changed_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    changed_at: datetime = Field(default_factory=utcnow)


class TaskComment(SQLModel, table=True):
    """A comment, an urging (督促) or a reason given with a state change, on a task's timeline."""

    __tablename__ = "task_comment"
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=_fk("task.id", nullable=False, ondelete="CASCADE"))
    author_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    kind: str = Field(default="comment", max_length=20)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class ExtensionRequest(SQLModel, table=True):
    """延期申请: a new deadline asked for by the lead office, decided by the coordinator."""

    __tablename__ = "extension_request"
    __table_args__ = (Index("ix_extension_request_task_id_status", "task_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"), nullable=False)
    )
    requested_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    old_deadline: date
    new_deadline: date
    reason: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=20)
    decided_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    decided_at: datetime | None = Field(default=None)
    decision_note: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class ProgressUpdate(SQLModel, table=True):
    """A dated report of work done on a task (进展)."""

    __tablename__ = "progress_update"
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=_fk("task.id", nullable=False, ondelete="CASCADE"))
    author_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)

    outcomes: list["Outcome"] = Relationship(
        sa_relationship_kwargs={"cascade": "all, delete-orphan", "order_by": "Outcome.id"}
    )


class Outcome(SQLModel, table=True):
    """A quantified result of a progress update: 开展普法宣传 12 次."""

    __tablename__ = "outcome"
    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(sa_column=_fk("progress_update.id", nullable=False, ondelete="CASCADE"))
    metric: str = Field(max_length=100)
    value: float
    unit: str = Field(default="", max_length=20)


class Attachment(SQLModel, table=True):
    """An uploaded file, stored under a random name outside static/."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_owner", "owner_type", "owner_id"),)
    id: int | None = Field(default=None, primary_key=True)
    owner_type: str = Field(max_length=30)
    owner_id: int
    stored_name: str = Field(max_length=64, unique=True)
    original_name: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64)
    mime_type: str = Field(max_length=100)
    uploaded_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """A message to the outside world; the UNIQUE key makes every send happen once."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_created_at_id", "created_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)  # email, wecom, dingtalk
    # reminder (one task), digest (an office's week), summary (leaders' month), notice (admin)
    kind: str = Field(default="reminder", max_length=20)
    task_id: int | None = Field(default=None, sa_column=_fk("task.id", nullable=True,
                                                            ondelete="SET NULL"))  # fmt: skip
    office_id: int | None = Field(default=None, sa_column=_fk("office.id", nullable=True,
                                                              ondelete="SET NULL"))  # fmt: skip
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=255)
    body: str = Field(sa_type=Text)
    # An e-mail row's message, rendered when it was planned and flattened for SMTP, without
    # its Date header (stamped when it is sent). None: built from BODY at delivery (rows
    # planned before this column, or by a planner that did not know the sender).
    message: bytes | None = Field(default=None, sa_type=LargeBinary)
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="pending", max_length=20)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class ImportDraft(SQLModel, table=True):
    """An uploaded report between parsing and confirmation: the preview the coordinator edits.

    Nothing else is written until Confirm, which creates the Report, its Problems,
    Commitments and Tasks in one transaction."""

    __tablename__ = "import_draft"
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(sa_column=_fk("unit.id", nullable=False))
    year: int
    source_filename: str | None = Field(default=None, max_length=255)
    source_text: str = Field(sa_type=Text)
    source_sha256: str = Field(max_length=64, index=True)
    parsed: dict = Field(sa_type=JSON)
    plan: dict = Field(sa_type=JSON)
    status: str = Field(default="open", max_length=20)
    report_id: int | None = Field(default=None, sa_column=_fk("report.id", nullable=True))
    created_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Holiday(SQLModel, table=True):
    """One day of the working-day calendar that differs from Monday-to-Friday (or confirms it)."""

    __tablename__ = "holiday"
    day: date = Field(primary_key=True)
    is_workday: bool
    name: str = Field(default="", max_length=50)


class Setting(SQLModel, table=True):
    """An admin-editable setting (the reminder policy, …): a JSON value under a fixed key."""

    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: dict = Field(default_factory=dict, sa_type=JSON)
    updated_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Who did what to which object, with the state before and after. Append-only."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)
    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    # Kept as text too, so the trail still reads after an account is renamed.
    actor_login: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=64, index=True)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: int | None = Field(default=None)
    before: dict | None = Field(default=None, sa_type=JSON)
    after: dict | None = Field(default=None, sa_type=JSON)
    ip: str | None = Field(default=None, max_length=45)
    at: datetime = Field(default_factory=utcnow, index=True)


class ReportDraft(SQLModel, table=True):
    """Next year's report as drafted from a tracked year (关于YEAR年度…的报告); the text is in
    its versions, the newest being CURRENT_VERSION."""

    __tablename__ = "report_draft"
    __table_args__ = (UniqueConstraint("unit_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(sa_column=_fk("unit.id", nullable=False))
    # The year reported on: the year in which SOURCE_REPORT's 下一步打算 were tracked.
    year: int
    # The imported report of YEAR - 1 whose commitments and tasks the draft is made from.
    source_report_id: int = Field(sa_column=_fk("report.id", nullable=False))
    title: str = Field(max_length=200)
    # Saving on top of a version that is no longer current is refused (optimistic check).
    current_version: int = Field(default=0)
    created_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    updated_at: datetime = Field(default_factory=utcnow)


class ReportDraftVersion(SQLModel, table=True):
    """One saved state of a draft: its sections and sentences with their sources (JSON)."""

    __tablename__ = "report_draft_version"
    __table_args__ = (UniqueConstraint("draft_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(sa_column=_fk("report_draft.id", nullable=False, ondelete="CASCADE"))
    number: int
    # generate (made from the tasks), edit (saved by the coordinator), restore (an old version)
    kind: str = Field(default="edit", max_length=20)
    content: dict = Field(sa_type=JSON)
    note: str = Field(default="", max_length=200)
    created_by_id: int | None = Field(default=None, sa_column=_fk("app_user.id", nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class LoginThrottle(SQLModel, table=True):
    """Failed logins from one source address, for the lockout per address (app/core/security:
    after_address_failure). A row exists once an address has failed; it is never deleted, only
    reset, so concurrent failures update one row."""

    __tablename__ = "login_throttle"
    address: str = Field(max_length=45, primary_key=True)
    failures: int = Field(default=0)
    window_start: datetime | None = Field(default=None)
    locked_until: datetime | None = Field(default=None, index=True)


class SchedulerNode(SQLModel, table=True):
    """A scheduler process as it last reported itself: the leader at each tick, a standby while
    it waits for the leader lock. In the database, not a file, so that /healthz on every host
    sees the installation's scheduler, wherever it runs."""

    __tablename__ = "scheduler_node"
    node: str = Field(max_length=200, primary_key=True)  # host name and process id
    role: str = Field(max_length=20)  # leader or standby
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow, index=True)
    last_tick_at: datetime | None = Field(default=None)
