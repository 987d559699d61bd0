"""audit trail append-only

The database refuses to change or remove an audit event: BEFORE UPDATE and BEFORE DELETE
triggers on audit_event (both databases) and a BEFORE TRUNCATE trigger (PostgreSQL) raise
"audit_event is append-only". INSERT is untouched. Archiving rows older than the retention
period is an operator's task done outside the app (docs/security.md); nothing in the app
deletes them. Triggers are invisible to autogenerate, so `flask db check` is unaffected.

Revision ID: d0a82b108b46
Revises: 0dac423bd394
Create Date: 2026-11-30 16:54:35.084413+00:00
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d0a82b108b46"
down_revision: str | None = "0dac423bd394"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MESSAGE = "audit_event is append-only"

POSTGRESQL_UPGRADE = [
    f"""
    CREATE FUNCTION audit_event_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = '{MESSAGE}: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
    """,
    """
    CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()
    """,
]
POSTGRESQL_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
]
# SQLite has no TRUNCATE; its DROP TABLE empties the table without firing DELETE triggers.
SQLITE_UPGRADE = [
    f"""
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_event_no_update",
]


def _run(statements: dict[str, list[str]]) -> None:
    dialect = op.get_context().dialect.name  # also in offline (--sql) mode
    if dialect not in statements:
        raise NotImplementedError(f"no append-only triggers for {dialect}")
    for statement in statements[dialect]:
        op.execute(statement)


def upgrade() -> None:
    _run({"postgresql": POSTGRESQL_UPGRADE, "sqlite": SQLITE_UPGRADE})


def downgrade() -> None:
    _run({"postgresql": POSTGRESQL_DOWNGRADE, "sqlite": SQLITE_DOWNGRADE})
