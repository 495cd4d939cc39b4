"""Reporting: the usage rollups table (usage records summed per bucket and dimensions, see models/rollups.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEYS = (("org_id", 64), ("width", 4), ("grain", 8))
_DIMENSIONS = (("workspace_id", 64), ("api_key_id", 64), ("model", 100), ("service_tier", 32),
               ("inference_geo", 32), ("context_window", 16), ("user_id", 256), ("stop_reason", 40))
_MEASURES = ("requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
             "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
             "code_execution_requests", "cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd",
             "cost_cache_write_1h_picousd", "cost_cache_read_picousd", "cost_web_search_picousd", "cost_picousd")


def upgrade() -> None:
    columns: list[sa.Column[object]] = [sa.Column(name, sa.String(length=n), nullable=False) for name, n in _KEYS]
    columns.append(sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False))
    columns += [sa.Column(name, sa.String(length=n), nullable=False) for name, n in _DIMENSIONS]
    columns += [sa.Column("batch", sa.Boolean(), nullable=False),
                sa.Column("team", sa.String(length=128), nullable=False),
                sa.Column("feature", sa.String(length=128), nullable=False)]
    columns += [sa.Column(name, sa.BigInteger(), nullable=False) for name in _MEASURES]
    keys = [name for name, _ in _KEYS] + ["bucket_start"] + [name for name, _ in _DIMENSIONS] + [
        "batch", "team", "feature"]
    op.create_table("usage_rollups", *columns, sa.PrimaryKeyConstraint(*keys))
    if op.get_bind().dialect.name == "postgresql":
        # Width and grain are far from independent (most rows are per-key or per-user); without this the planner
        # multiplies their selectivities, expects a tenth of the table and scans all of it instead of the key.
        op.execute("CREATE STATISTICS usage_rollups_width_grain (mcv, dependencies) ON width, grain "
                   "FROM usage_rollups")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS usage_rollups_width_grain")
    op.drop_table("usage_rollups")
