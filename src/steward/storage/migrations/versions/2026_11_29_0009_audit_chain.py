"""Audit chain: per-organization hash-chain links over audit events and signed checkpoints of the chain heads.

Both tables are append-only: triggers on both backends refuse UPDATE and DELETE (as for audit_events in 0001).
``audit_pending`` is the sealer's queue, filled by a trigger on every audit_events insert (and here, once, with
the events that already exist), so that a sealing round costs what arrived since the last one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLES = ("audit_chain", "audit_checkpoints")


def upgrade() -> None:
    op.create_table('audit_chain',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.Column('link', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'seq')
    )
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.create_index('uq_audit_chain_event', ['event_id'], unique=True)

    op.create_table('audit_checkpoints',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('link', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'seq')
    )
    for table in _TABLES:
        _append_only(table)

    op.create_table('audit_pending',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_pending', schema=None) as batch_op:
        batch_op.create_index('ix_audit_pending_org', ['org_id', 'id'], unique=False)
    op.execute(sa.text("INSERT INTO audit_pending (event_id, org_id) SELECT id, COALESCE(org_id, '') "
                       "FROM audit_events ORDER BY created_at, id"))
    _queue_for_sealing()


_SQLITE_PENDING = """
CREATE TRIGGER audit_events_pending AFTER INSERT ON audit_events
BEGIN INSERT INTO audit_pending (event_id, org_id) VALUES (NEW.id, COALESCE(NEW.org_id, '')); END
"""

_PG_PENDING = """
CREATE OR REPLACE FUNCTION steward_audit_pending() RETURNS trigger AS $$
BEGIN
    INSERT INTO audit_pending (event_id, org_id) VALUES (NEW.id, COALESCE(NEW.org_id, ''));
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def _queue_for_sealing() -> None:
    """Every audit event inserted from now on, by any path, is queued for the sealer in the same transaction."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(sa.text(_SQLITE_PENDING))
        return
    op.execute(sa.text(_PG_PENDING))
    op.execute(sa.text("CREATE TRIGGER audit_events_pending AFTER INSERT ON audit_events "
                       "FOR EACH ROW EXECUTE FUNCTION steward_audit_pending()"))


_SQLITE_TRIGGER = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
"""


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` inside the database (PostgreSQL reuses 0001's function)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(sa.text(_SQLITE_TRIGGER.format(table=table, op=verb, OP=verb.upper())))
        return
    op.execute(sa.text(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION steward_append_only()"))
    op.execute(sa.text(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION steward_append_only()"))


def downgrade() -> None:
    op.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_pending" +
                       ("" if op.get_bind().dialect.name == "sqlite" else " ON audit_events")))
    if op.get_bind().dialect.name != "sqlite":
        op.execute(sa.text("DROP FUNCTION IF EXISTS steward_audit_pending()"))
    with op.batch_alter_table('audit_pending', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_pending_org')
    op.drop_table('audit_pending')
    op.drop_table('audit_checkpoints')
    with op.batch_alter_table('audit_chain', schema=None) as batch_op:
        batch_op.drop_index('uq_audit_chain_event')
    op.drop_table('audit_chain')
