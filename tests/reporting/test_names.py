"""Names and words for people, without a database: report rows get names beside ids and sort by cost; money
reads as money; refusal reasons of old audit events; spend alerts name their workspace or key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from steward.cli.report_tables import money, report_table
from steward.dataplane.records import refusal_reason
from steward.dataplane.snapshot import KeyEntry, Snapshot, SpendEntry, WorkspaceEntry
from steward.dataplane.stages.budget import alert_record, scope_name
from steward.errors import (
    InvalidRequestError,
    LimitsUnavailableError,
    PermissionDeniedError,
    RateLimitError,
    SpendLimitReachedError,
    UpstreamError,
)
from steward.governance.budgets import Counter, Crossing
from steward.reporting.names import Names
from steward.reporting.refusals import reason_of, refusal_rows
from steward.reporting.service import sort_rows

NAMES = Names.build({"wrkspc_m": "Marketing"}, {"apikey_1": "mkt-prod-copy"},
                    [("user_a", "Alice Martin", "alice@example.com")])


def test_rows_get_names_beside_their_ids() -> None:
    rows: list[dict[str, Any]] = [{"workspace_id": "wrkspc_m", "api_key_id": "apikey_1", "user_id": "Alice@Example.com",
                                   "requests": 1},
                                  {"workspace_id": "wrkspc_gone", "api_key_id": None, "user_id": "bob", "requests": 2}]
    NAMES.label(rows)
    assert list(rows[0]) == ["workspace_id", "workspace_name", "api_key_id", "api_key_name", "user_id", "user_name",
                             "requests"]
    assert (rows[0]["workspace_name"], rows[0]["api_key_name"], rows[0]["user_name"]) == (
        "Marketing", "mkt-prod-copy", "Alice Martin <alice@example.com>")
    assert (rows[1]["workspace_name"], rows[1]["api_key_name"], rows[1]["user_name"]) == (None, None, None)


def test_rows_sort_by_cost_then_the_asked_order() -> None:
    rows = [{"workspace_id": "a", "workspace_name": "Zeta", "requests": 9, "cost_picousd": 1, "input_tokens": 5},
            {"workspace_id": "b", "workspace_name": "alpha", "requests": 1, "cost_picousd": 7, "input_tokens": 50}]
    group = ["workspace_id"]
    assert [r["workspace_id"] for r in sort_rows(rows, group, "cost")] == ["b", "a"]
    assert [r["workspace_id"] for r in sort_rows(rows, group, "requests")] == ["a", "b"]
    assert [r["workspace_id"] for r in sort_rows(rows, group, "tokens")] == ["b", "a"]
    assert [r["workspace_id"] for r in sort_rows(rows, group, "name")] == ["b", "a"]  # alpha before Zeta
    days = [{**rows[0], "day": "2026-12-02"}, {**rows[1], "day": "2026-12-01"}, {**rows[0], "day": "2026-12-01"}]
    assert [(r["day"], r["workspace_id"]) for r in sort_rows(days, ["day", "workspace_id"], "cost")] == [
        ("2026-12-01", "b"), ("2026-12-01", "a"), ("2026-12-02", "a")]
    with pytest.raises(InvalidRequestError):
        sort_rows(rows, group, "size")


@pytest.mark.parametrize(("amount", "text"), [("1234.5678", "$1,234.57"), ("0", "$0.00"), ("0.01", "$0.01"),
                                              ("0.004213", "$0.0042"), ("0.000000057", "$0.000000057"),
                                              (Decimal("12"), "$12.00")])
def test_money_reads_as_money(amount: str | Decimal, text: str) -> None:
    assert money(amount) == text


def test_a_table_has_names_a_totals_row_and_dollars() -> None:
    from rich.console import Console

    rows = [{"api_key_id": "apikey_1", "api_key_name": "mkt-prod-copy", "requests": 1200, "cost_usd": "1000.5"},
            {"api_key_id": "apikey_2", "api_key_name": None, "requests": 3, "cost_usd": "0.25"}]
    console = Console(width=200, record=True)
    console.print(report_table("usage", rows, ["api_key_id"], "Usage"))
    text = console.export_text()
    assert "mkt-prod-copy (apikey_1)" in text and "apikey_2" in text and "API key" in text
    assert "total" in text and "1,203" in text and "$1,000.75" in text and "$1,000.50" in text


@pytest.mark.parametrize(("error", "auth", "rule", "reason"), [
    (SpendLimitReachedError("x"), None, None, "budget"), (RateLimitError("x"), None, None, "rate_limit"),
    (RateLimitError("x"), "unknown_key", None, "authentication"), (PermissionDeniedError("x"), None, None, "policy"),
    (InvalidRequestError("x"), None, "pii.email", "policy"), (InvalidRequestError("x"), None, None, "validation"),
    (UpstreamError("x"), None, None, "gateway_error"),
    (LimitsUnavailableError("x"), None, None, "unavailable")])  # a store down is no limit reached
def test_refusal_reasons(error: Any, auth: str | None, rule: str | None, reason: str) -> None:
    assert refusal_reason(error, auth, rule) == reason


def test_old_audit_events_are_classified_by_their_error_type() -> None:
    def event(reason: str, status: int) -> dict[str, Any]:
        return {"event": "api_call", "status": status, "reason": reason, "data": {"endpoint": "messages"}}
    assert reason_of(event("invalid_request_error: You have reached your specified workspace API usage limits. "
                           "You will regain access on 2026-12-08 at 00:00 UTC.", 400)) == "budget"
    assert reason_of(event("invalid_request_error: max_tokens: Field required", 400)) == "validation"
    assert reason_of(event("permission_error: model not allowed", 403)) == "policy"
    assert reason_of(event("api_error: The upstream API could not be reached", 502)) == "gateway_error"
    summary = {"event": "auth.refused_summary", "status": 401, "reason": "40 more", "data": {"count": 40},
               "workspace_id": None, "created_at": datetime(2026, 12, 7, tzinfo=UTC)}
    assert refusal_rows([summary], ["reason"], None) == [{"reason": "authentication", "refusals": 40}]
    assert refusal_rows([summary], ["reason"], ["wrkspc_m"]) == []  # narrowed callers see their workspaces only


def test_spend_alerts_name_their_scope() -> None:
    workspace = WorkspaceEntry("wrkspc_m", "org_1", "Marketing", False, None)
    key = KeyEntry("apikey_1", "org_1", "wrkspc_m", "mkt-prod-copy", "active", None)
    snapshot = Snapshot(version=1, keys_by_hash={"h": key}, workspaces={"wrkspc_m": workspace})
    entry = SpendEntry("spl_1", "org_1", "workspace", "wrkspc_m", "monthly", 500 * 10**12, True, (50, 80, 95))
    name = scope_name(snapshot, entry)
    row = alert_record(entry, Crossing(Counter("stw:k", 10**14, 60.0), 95), 1, name)["audit"]
    assert row["reason"] == "workspace Marketing (wrkspc_m) reached 95% of its monthly hard limit ($500.00)"
    keyed = SpendEntry("spl_2", "org_1", "api_key", "apikey_1", "daily", 10**12, False, (80,))
    assert scope_name(snapshot, keyed) == "mkt-prod-copy"
    assert scope_name(snapshot, SpendEntry("spl_3", "org_1", "user", "bob", "daily", 1, True, ())) is None
