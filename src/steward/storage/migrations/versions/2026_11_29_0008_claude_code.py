"""Claude Code analytics: per-day counters from OTLP ingest and the last value of every cumulative series.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_claude_code", ["org_id", "created_at"], unique=False,
                              postgresql_where=sa.text("claude_code_session_id IS NOT NULL"),
                              sqlite_where=sa.text("claude_code_session_id IS NOT NULL"))
    op.create_table('claude_code_usage',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('dimension', sa.String(length=100), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('terminal_type', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'day', 'actor_type', 'actor', 'project', 'session_id', 'source', 'metric',
                            'dimension')
    )
    op.create_table('otlp_series',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('series', sa.String(length=64), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'series')
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_claude_code")
    op.drop_table('otlp_series')
    op.drop_table('claude_code_usage')
