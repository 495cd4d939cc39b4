"""Usage records keep what was charged to spend caps when it differs from their cost (an unpriced model is
charged at the catalog's highest rates but costs "unknown", 0), so a spend counter started again from recorded
spend counts it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.add_column(sa.Column("charged_picousd", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.drop_column("charged_picousd")
