"""The config change log: what each config version changed, so gateways apply deltas (one key revoked: one key
reloaded) instead of reloading every key on every change.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_changes",
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("version", "kind", "entity_id"),
    )


def downgrade() -> None:
    op.drop_table("config_changes")
