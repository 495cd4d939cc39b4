"""``admin.reports``: the messages usage report and the cost report (Anthropic's shapes) and the seed's usage and
cost totals per group. The official ``anthropic`` SDK has no method for these two Anthropic endpoints; the models
follow the documented shapes. Cost amounts stay decimal strings (cents, or dollars in the seed's report).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from steward.sdk.models import AdminObject
from steward.sdk.resources.base import Call, Resource, S, compact, endpoint


class CacheCreation(AdminObject):
    ephemeral_1h_input_tokens: int
    ephemeral_5m_input_tokens: int


class ServerToolUse(AdminObject):
    web_search_requests: int


class UsageResult(AdminObject):
    """One group of a bucket; Steward's extra groupings (user_id, stop_reason, team, feature) come as extras."""

    uncached_input_tokens: int
    cache_creation: CacheCreation
    cache_read_input_tokens: int
    output_tokens: int
    server_tool_use: ServerToolUse
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    account_id: str | None = None
    service_account_id: str | None = None


class UsageBucket(AdminObject):
    starting_at: str
    ending_at: str
    results: list[UsageResult]


class UsageReport(AdminObject):
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None = None


class CostResult(AdminObject):
    amount: str  # cents, as an exact decimal string
    currency: str
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    service_tier: str | None = None
    token_type: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None


class CostBucket(AdminObject):
    starting_at: str
    ending_at: str
    results: list[CostResult]


class CostReport(AdminObject):
    data: list[CostBucket]
    has_more: bool
    next_page: str | None = None


class GroupTotals(AdminObject):
    """The seed's report: one row per group (keys: the groups, then the measures; money as decimal strings)."""

    start_date: str
    end_date: str
    group_by: list[str]
    data: list[dict[str, Any]]
    total_cost_usd: str | None = None


class RefusalTotals(AdminObject):
    """``/v1/admin/usage/refusals``: requests Steward answered itself, one row per group (the groups with their
    names, then ``refusals``), most first."""

    start_date: str
    end_date: str
    group_by: list[str]
    total_refusals: int
    data: list[dict[str, Any]]


def _time(value: datetime | date | str | None) -> str | None:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return value


def _day(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _list(values: Sequence[str] | None) -> list[str] | None:
    if isinstance(values, str):
        raise TypeError("pass a list of strings, e.g. ['workspace_id', 'model']")
    return list(values) if values else None


class Reports(Resource[S]):
    """Usage and cost reports, read from Steward's rollups."""

    @endpoint
    def messages(self, *, starting_at: datetime | date | str, ending_at: datetime | date | str | None = None,
                 bucket_width: str | None = None, limit: int | None = None, page: str | None = None,
                 group_by: Sequence[str] | None = None, api_key_ids: Sequence[str] | None = None,
                 workspace_ids: Sequence[str] | None = None, models: Sequence[str] | None = None,
                 service_tiers: Sequence[str] | None = None, context_window: Sequence[str] | None = None,
                 inference_geos: Sequence[str] | None = None, user_ids: Sequence[str] | None = None,
                 stop_reasons: Sequence[str] | None = None, teams: Sequence[str] | None = None,
                 features: Sequence[str] | None = None) -> Call[UsageReport]:
        """One page of ``/v1/organizations/usage_report/messages`` (filters by their API names)."""
        filters = {"group_by": group_by, "api_key_ids": api_key_ids, "workspace_ids": workspace_ids,
                   "models": models, "service_tiers": service_tiers, "context_window": context_window,
                   "inference_geos": inference_geos, "user_ids": user_ids, "stop_reasons": stop_reasons,
                   "teams": teams, "features": features}
        query = compact(starting_at=_time(starting_at), ending_at=_time(ending_at), bucket_width=bucket_width,
                        limit=limit, page=page, **{f"{name}[]": _list(values) for name, values in filters.items()})
        return Call("GET", "/v1/organizations/usage_report/messages", UsageReport.model_validate, query=query)

    @endpoint
    def cost(self, *, starting_at: datetime | date | str, ending_at: datetime | date | str | None = None,
             limit: int | None = None, page: str | None = None, group_by: Sequence[str] | None = None,
             workspace_ids: Sequence[str] | None = None) -> Call[CostReport]:
        """One page of ``/v1/organizations/cost_report`` (daily buckets; amounts in cents)."""
        query = compact(starting_at=_time(starting_at), ending_at=_time(ending_at), limit=limit, page=page,
                        **{"group_by[]": _list(group_by), "workspace_ids[]": _list(workspace_ids)})
        return Call("GET", "/v1/organizations/cost_report", CostReport.model_validate, query=query)

    @endpoint
    def usage_totals(self, *, start_date: date | str | None = None, end_date: date | str | None = None,
                     group_by: Sequence[str] = ("workspace",)) -> Call[GroupTotals]:
        """The seed's ``/v1/admin/usage/messages``: tokens and cost per group over whole UTC days."""
        query = compact(start_date=_day(start_date), end_date=_day(end_date), group_by=",".join(_list(group_by) or []))
        return Call("GET", "/v1/admin/usage/messages", GroupTotals.model_validate, query=query)

    @endpoint
    def cost_totals(self, *, start_date: date | str | None = None, end_date: date | str | None = None,
                    group_by: Sequence[str] = ("workspace",)) -> Call[GroupTotals]:
        """The seed's ``/v1/admin/usage/cost``: exact USD per group, split by cost type."""
        query = compact(start_date=_day(start_date), end_date=_day(end_date), group_by=",".join(_list(group_by) or []))
        return Call("GET", "/v1/admin/usage/cost", GroupTotals.model_validate, query=query)

    @endpoint
    def refusals(self, *, start_date: date | str | None = None, end_date: date | str | None = None,
                 group_by: Sequence[str] = ("reason",),
                 workspace_ids: Sequence[str] | None = None) -> Call[RefusalTotals]:
        """``/v1/admin/usage/refusals``: requests Steward answered itself (authentication, budget, rate_limit,
        policy, validation, ...), which are in the audit trail but not in usage, counted per reason, workspace,
        key, model, status or day."""
        query = compact(start_date=_day(start_date), end_date=_day(end_date), group_by=",".join(_list(group_by) or []),
                        workspace_ids=",".join(_list(workspace_ids) or []) or None)
        return Call("GET", "/v1/admin/usage/refusals", RefusalTotals.model_validate, query=query)
