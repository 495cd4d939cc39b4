"""Refused requests leave the usage ledger: a request Steward answered itself (a refusal, a gateway error; its audit
event says ``decision`` refused or error) was stored as a 0-token usage record and counted in the rollups'
``requests``. From now on it has no usage record (the audit event keeps it; the refusals report reads it), so
this removes the old ones and takes them out of the rollups.

Only records with nothing metered are removed (no tokens, no cost, no charge, no batch): their rollup
contribution is exactly one request per rollup row they were summed into, so it is subtracted here without the
price catalog; rows left with nothing at all are deleted, as a rebuild (``steward usage rebuild-rollups``) would
never write them. The grains are those in force at this revision (reporting/rollups.py). Irreversible: the
downgrade leaves the data as it is.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_CORE = ("workspace_id", "model", "service_tier", "inference_geo", "context_window", "batch")
_ALL = ("workspace_id", "api_key_id", "model", "service_tier", "inference_geo", "context_window", "user_id",
        "stop_reason", "batch", "team", "feature")
_PLANS = (("ws", "1h", _CORE), ("ws", "1d", _CORE), ("key", "1h", (*_CORE, "api_key_id")),
          ("key", "1d", (*_CORE, "api_key_id")), ("all", "1d", _ALL))
_MEASURES = ("requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
             "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
             "code_execution_requests", "cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd",
             "cost_cache_write_1h_picousd", "cost_cache_read_picousd", "cost_web_search_picousd", "cost_picousd",
             "charged_picousd")
_CHUNK = 500

_records = sa.table(
    "usage_records", sa.column("id", sa.String()), sa.column("request_id", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("org_id", sa.String()),
    sa.column("workspace_id", sa.String()), sa.column("api_key_id", sa.String()), sa.column("user_id", sa.String()),
    sa.column("tags", sa.JSON()), sa.column("endpoint", sa.String()), sa.column("model", sa.String()),
    sa.column("batch_id", sa.String()), sa.column("service_tier", sa.String()),
    sa.column("inference_geo", sa.String()), sa.column("stop_reason", sa.String()),
    *(sa.column(c, sa.BigInteger()) for c in ("input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                                              "cache_read_tokens", "output_tokens", "cost_picousd",
                                              "charged_picousd")))
_audit = sa.table("audit_events", sa.column("request_id", sa.String()), sa.column("event", sa.String()),
                  sa.column("decision", sa.String()))
_rollups = sa.table("usage_rollups", sa.column("org_id", sa.String()), sa.column("width", sa.String()),
                    sa.column("grain", sa.String()), sa.column("bucket_start", sa.DateTime(timezone=True)),
                    *(sa.column(d, sa.Boolean() if d == "batch" else sa.String()) for d in _ALL),
                    *(sa.column(m, sa.BigInteger()) for m in _MEASURES))


def _refused() -> sa.Select[Any]:
    refused = sa.select(_audit.c.request_id).where(_audit.c.event == "api_call",
                                                   _audit.c.decision.in_(["refused", "error"]),
                                                   _audit.c.request_id.is_not(None))
    r = _records.c
    return sa.select(_records).where(
        r.request_id.in_(refused), r.batch_id.is_(None), r.input_tokens == 0, r.output_tokens == 0,
        r.cache_write_5m_tokens == 0, r.cache_write_1h_tokens == 0, r.cache_read_tokens == 0,
        r.cost_picousd == 0, sa.or_(r.charged_picousd.is_(None), r.charged_picousd == 0))


def _bucket(at: datetime, width: str) -> datetime:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if width == "1d" else at


def _keys(row: Mapping[str, Any]) -> Iterable[tuple[Any, ...]]:
    """The rollup keys one 0-token messages record was summed into (reporting/rollups.py at this revision)."""
    tags = row["tags"] or {}
    dims = {"workspace_id": row["workspace_id"] or "", "api_key_id": row["api_key_id"] or "",
            "model": row["model"] or "", "service_tier": row["service_tier"] or "",
            "inference_geo": row["inference_geo"] or "", "context_window": "0-200k",
            "user_id": row["user_id"] or "", "stop_reason": row["stop_reason"] or "", "batch": False,
            "team": str(tags.get("team") or ""), "feature": str(tags.get("feature") or "")}
    for grain, width, kept in _PLANS:
        yield (row["org_id"], width, grain, _bucket(row["created_at"], width),
               *(dims[d] if d in kept else (False if d == "batch" else "") for d in _ALL))


def upgrade() -> None:
    bind = op.get_bind()
    rows = [dict(r) for r in bind.execute(_refused()).mappings()]
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in rows:
        if row["endpoint"] in ("messages", "batch_result"):
            counts.update(_keys(row))
    names = ("org_id", "width", "grain", "bucket_start", *_ALL)
    for key, count in sorted(counts.items(), key=lambda item: str(item[0])):
        where = [_rollups.c[n] == v for n, v in zip(names, key, strict=True)]
        bind.execute(sa.update(_rollups).where(*where).values(requests=_rollups.c.requests - count))
    if counts:
        bind.execute(sa.delete(_rollups).where(*(_rollups.c[m] <= 0 for m in _MEASURES)))
    ids = [row["id"] for row in rows]
    for start in range(0, len(ids), _CHUNK):
        bind.execute(sa.delete(_records).where(_records.c.id.in_(ids[start:start + _CHUNK])))


def downgrade() -> None:
    """Nothing to undo: the removed records held no usage, and the audit trail still holds every refusal."""
