"""Usage rollups: usage records summed per (bucket, dimensions), kept incrementally by the journal shipper.

One table holds several *grains* (which dimensions are kept) at two *widths* (``1h``, ``1d``); dimensions a
grain drops are stored as ``''`` so that the primary key (and so ``ON CONFLICT``) works on every backend
(NULLs are distinct in unique keys). Cost is integer pico-USD, split by the cost report's types.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base

DIMENSIONS = ("workspace_id", "api_key_id", "model", "service_tier", "inference_geo", "context_window", "user_id",
              "stop_reason", "batch", "team", "feature")
MEASURES = ("requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
            "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
            "code_execution_requests", "cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd",
            "cost_cache_write_1h_picousd", "cost_cache_read_picousd", "cost_web_search_picousd", "cost_picousd",
            "charged_picousd")


def _key(length: int) -> Mapped[str]:
    return mapped_column(String(length), primary_key=True)


def _measure() -> Mapped[int]:
    return mapped_column(BigInteger, default=0)


class UsageRollup(Base):
    __tablename__ = "usage_rollups"

    org_id: Mapped[str] = _key(64)
    width: Mapped[str] = _key(4)
    grain: Mapped[str] = _key(8)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    workspace_id: Mapped[str] = _key(64)
    api_key_id: Mapped[str] = _key(64)
    model: Mapped[str] = _key(100)
    service_tier: Mapped[str] = _key(32)
    inference_geo: Mapped[str] = _key(32)
    context_window: Mapped[str] = _key(16)
    user_id: Mapped[str] = _key(256)
    stop_reason: Mapped[str] = _key(40)
    batch: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    team: Mapped[str] = _key(128)
    feature: Mapped[str] = _key(128)
    requests: Mapped[int] = _measure()
    input_tokens: Mapped[int] = _measure()
    cache_write_5m_tokens: Mapped[int] = _measure()
    cache_write_1h_tokens: Mapped[int] = _measure()
    cache_read_tokens: Mapped[int] = _measure()
    output_tokens: Mapped[int] = _measure()
    thinking_tokens: Mapped[int] = _measure()
    web_search_requests: Mapped[int] = _measure()
    web_fetch_requests: Mapped[int] = _measure()
    code_execution_requests: Mapped[int] = _measure()
    cost_input_picousd: Mapped[int] = _measure()
    cost_output_picousd: Mapped[int] = _measure()
    cost_cache_write_5m_picousd: Mapped[int] = _measure()
    cost_cache_write_1h_picousd: Mapped[int] = _measure()
    cost_cache_read_picousd: Mapped[int] = _measure()
    cost_web_search_picousd: Mapped[int] = _measure()
    cost_picousd: Mapped[int] = _measure()
    # What spend caps were charged: the cost, or for unpriced usage its ceiling-rate charge. Spend counters start
    # from the daily rows of this column (storage/repositories/spend.py), never from a scan of raw usage.
    charged_picousd: Mapped[int] = _measure()
