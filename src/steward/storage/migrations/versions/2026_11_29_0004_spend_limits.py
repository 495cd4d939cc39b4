"""Spend limits and spend-limit increase requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:06:18.803867
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spend_limit_increase_requests',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('spend_limit_id', sa.String(length=64), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolution_note', sa.String(length=2000), nullable=True),
    sa.Column('details', _JSON, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spend_limit_increase_requests', schema=None) as batch_op:
        batch_op.create_index('ix_spend_requests_org', ['org_id', 'id'], unique=False)

    op.create_table('spend_limits',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=256), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('hard', sa.Boolean(), nullable=False),
    sa.Column('thresholds', _JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spend_limits', schema=None) as batch_op:
        batch_op.create_index('uq_spend_limits_scope', ['org_id', 'scope', 'scope_id', 'period'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('spend_limits', schema=None) as batch_op:
        batch_op.drop_index('uq_spend_limits_scope')

    op.drop_table('spend_limits')
    with op.batch_alter_table('spend_limit_increase_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_spend_requests_org')

    op.drop_table('spend_limit_increase_requests')
