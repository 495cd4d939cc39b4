"""Rollups keep what spend caps were charged (``charged_picousd``: the cost, or the ceiling-rate charge of unpriced
usage), so a spend counter starts from a few daily rollup rows instead of summing every usage record of its period.

Existing rows get their cost, which is exact for every priced record; `steward usage rebuild-rollups` recomputes
a period from raw usage (needed only where unpriced usage was recorded before this migration).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_rollups") as batch_op:
        batch_op.add_column(sa.Column("charged_picousd", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE usage_rollups SET charged_picousd = cost_picousd")


def downgrade() -> None:
    with op.batch_alter_table("usage_rollups") as batch_op:
        batch_op.drop_column("charged_picousd")
