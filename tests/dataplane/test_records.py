"""The journal's record builders name exactly the columns the shipper inserts (usage records, audit events)."""

from __future__ import annotations

from steward.dataplane.records import audit_event, fit, usage_row
from steward.governance.usage import meter_message
from steward.storage.models import AuditEvent, UsageRecord


def _columns(model: type) -> set[str]:
    return {column.name for column in model.__table__.columns}  # type: ignore[attr-defined]


def test_usage_row_has_every_usage_column() -> None:
    metered = meter_message({"model": "m\x00" + "x" * 200, "stop_reason": "end_turn",
                             "usage": {"input_tokens": 3, "output_tokens": 5, "inference_geo": "g" * 80},
                             "content": [{"type": "tool_use", "name": "t" * 300}]})
    row = usage_row(row_id="r", request_id="r", created_at="2026-01-01T00:00:00+00:00", org_id="o",
                    workspace_id="w", api_key_id="k", user_id=None, tags=None, endpoint="batch_result",
                    model=metered.model, batch_id="b", metered=metered, status=200, latency_ms=0, ttft_ms=None,
                    cost_picousd=7, pricing_version="v", unpriced=False, claude_code_session_id=None,
                    service_tier="batch")
    assert set(row) <= _columns(UsageRecord) and {"id", "cost_picousd", "unpriced"} <= set(row)
    assert len(row["model"]) == 100 and "\x00" not in row["model"]  # upstream values made storable
    assert len(row["inference_geo"]) == 32 and len(row["tools_used"][0]) == 128
    assert row["service_tier"] == "batch" and row["complete"] and row["input_tokens"] == 3


def test_audit_event_has_every_audit_column() -> None:
    event = audit_event("spend.alert", created_at="2026-01-01T00:00:00+00:00", decision="allowed", reason=None,
                        data={"x": 1})
    columns = _columns(AuditEvent)
    assert set(event) <= columns and event["id"].startswith("activity_") and event["data"] == {"x": 1}
    fixed = audit_event("batch.results", event_id="activity_b:results", created_at="t", decision="allowed",
                        reason=None, data={})
    assert fixed["id"] == "activity_b:results" and fit(None, 3) is None
