"""Rate limits per organization, workspace and key (per rate-limit group and limiter type).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:56:13.912650
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limits',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('limit_type', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limits_org', ['org_id'], unique=False)
        batch_op.create_index('uq_rate_limits_scope', ['scope', 'scope_id', 'group_id', 'limit_type'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('rate_limits', schema=None) as batch_op:
        batch_op.drop_index('uq_rate_limits_scope')
        batch_op.drop_index('ix_rate_limits_org')

    op.drop_table('rate_limits')
