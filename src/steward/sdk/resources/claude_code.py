"""``admin.claude_code``: the Claude Code usage report (Anthropic's shape) and the seed's per user/project totals.

The official ``anthropic`` SDK has no method for ``/v1/organizations/usage_report/claude_code``; these models
follow the documented record (actor, core metrics, tool actions, model breakdown with cents).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from steward.sdk.models import AdminObject
from steward.sdk.resources.base import Call, Resource, S, compact, endpoint


class ClaudeCodeActor(AdminObject):
    type: Literal["user_actor", "api_actor"]
    email_address: str | None = None
    api_key_name: str | None = None


class LinesOfCode(AdminObject):
    added: int
    removed: int


class CoreMetrics(AdminObject):
    num_sessions: int
    lines_of_code: LinesOfCode
    commits_by_claude_code: int
    pull_requests_by_claude_code: int


class ToolAction(AdminObject):
    accepted: int
    rejected: int


class ToolActions(AdminObject):
    edit_tool: ToolAction
    multi_edit_tool: ToolAction
    write_tool: ToolAction
    notebook_edit_tool: ToolAction


class ModelTokens(AdminObject):
    input: int
    output: int
    cache_read: int
    cache_creation: int


class EstimatedCost(AdminObject):
    currency: Literal["USD"]
    amount: int  # cents


class ModelBreakdown(AdminObject):
    model: str
    tokens: ModelTokens
    estimated_cost: EstimatedCost


class ClaudeCodeRecord(AdminObject):
    date: str
    organization_id: str
    actor: ClaudeCodeActor
    customer_type: Literal["api", "subscription"]
    subscription_type: str | None = None
    terminal_type: str
    is_remote: bool = False
    core_metrics: CoreMetrics
    tool_actions: ToolActions
    model_breakdown: list[ModelBreakdown]


class ClaudeCodeReport(AdminObject):
    data: list[ClaudeCodeRecord]
    has_more: bool
    next_page: str | None = None


class ClaudeCodeTotals(AdminObject):
    data: list[dict[str, Any]]
    start_date: str
    end_date: str
    group_by: Literal["user", "project"]


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


class ClaudeCode(Resource[S]):
    """Claude Code analytics: OTLP telemetry and gateway traffic, per user per day."""

    @endpoint
    def report(self, *, starting_at: date | str, ending_at: date | str | None = None, limit: int | None = None,
               page: str | None = None) -> Call[ClaudeCodeReport]:
        """One page of per actor per day records from ``starting_at`` (a UTC day)."""
        query = compact(starting_at=_day(starting_at), ending_at=_day(ending_at) if ending_at else None,
                        limit=limit, page=page)
        return Call("GET", "/v1/organizations/usage_report/claude_code", ClaudeCodeReport.model_validate,
                    query=query)

    @endpoint
    def totals(self, *, start_date: date | str, end_date: date | str | None = None,
               group_by: Literal["user", "project"] = "user") -> Call[ClaudeCodeTotals]:
        """Totals per user or per project over a range of UTC days (inclusive)."""
        query = compact(start_date=_day(start_date), end_date=_day(end_date) if end_date else None,
                        group_by=group_by)
        return Call("GET", "/v1/admin/usage/claude-code", ClaudeCodeTotals.model_validate, query=query)
