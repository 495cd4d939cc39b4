"""The Claude Code report: OTLP day counters merged with the gateway's own metering of Claude Code traffic.

The unit of merging is one session on one day. A session's numbers come from the best source that has them:
tokens and cost from the gateway's exact metering (requests with ``X-Claude-Code-Session-Id``), else OTLP
metrics, else OTLP ``api_request`` events; tool decisions from metrics, else events; lines, commits and pull
requests from metrics. A session seen by both keeps the OTLP actor and project (they name the person and the
repository). Gateway-only sessions belong to the key owner's email, or to ``metadata.user_id`` when it is an
email, else to the key (an ``api_actor``); their project is the key's workspace. See docs/claude-code.md.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require, visible_workspaces
from steward.governance.money import usd
from steward.storage.repositories.claude_code import ClaudeCodeRepository, GatewayUsage, StoredCounter

TOOLS = {"Edit": "edit_tool", "MultiEdit": "multi_edit_tool", "Write": "write_tool",
         "NotebookEdit": "notebook_edit_tool"}
TOKENS = ("input", "output", "cache_read", "cache_creation")


@dataclass(slots=True)
class Session:
    """Everything known about one session (or one actor's sessionless counters) on one day."""

    day: date
    actor_type: str
    actor: str
    project: str
    session_id: str
    workspace_id: str
    terminal_type: str | None = None
    values: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (source, metric, dimension)
    gateway: dict[str, list[int]] = field(default_factory=dict)  # model -> requests, 4 token kinds, pico-USD

    def total(self, source: str, metric: str) -> int:
        return sum(v for (s, m, _), v in self.values.items() if s == source and m == metric)

    def has(self, source: str, prefix: str) -> bool:
        return any(s == source and m.startswith(prefix) for (s, m, _) in self.values)

    def sessions(self) -> int:
        return 1 if self.session_id else self.total("metric", "sessions")

    def tools(self) -> dict[str, dict[str, int]]:
        source = "metric" if self.has("metric", "tool.") else "event"
        out = {name: {"accepted": 0, "rejected": 0} for name in TOOLS.values()}
        for (s, metric, tool), value in self.values.items():
            if s == source and metric.startswith("tool.") and tool in TOOLS:
                out[TOOLS[tool]][metric[5:]] += value
        return out

    def models(self) -> dict[str, list[int]]:
        """model -> [requests, input, output, cache_read, cache_creation, pico-USD] from the best source."""
        if self.gateway:
            return self.gateway
        source = "metric" if self.has("metric", "tokens.") or self.has("metric", "cost") else "event"
        out: dict[str, list[int]] = {}
        for (s, metric, model), value in self.values.items():
            if s != source or not (metric.startswith("tokens.") or metric in ("cost_picousd", "requests")):
                continue
            row = out.setdefault(model, [0] * 6)
            index = 0 if metric == "requests" else 5 if metric == "cost_picousd" else 1 + TOKENS.index(metric[7:])
            row[index] += value
        return out


def gateway_actor(row: GatewayUsage) -> tuple[str, str]:
    """Who a gateway-only session belongs to (docs/claude-code.md)."""
    if row.end_user and "@" in row.end_user:
        return "user_actor", row.end_user
    if row.owner_email:
        return "user_actor", row.owner_email
    return "api_actor", row.api_key_name or row.api_key_id


def merge(counters: Iterable[StoredCounter], gateway: Iterable[GatewayUsage]) -> list[Session]:
    """One ``Session`` per (day, actor, project, session) with both sources attached."""
    sessions: dict[tuple[date, str, str, str, str], Session] = {}
    by_id: dict[tuple[date, str], Session] = {}
    for c in counters:
        key = (c.day, c.actor_type, c.actor, c.project, c.session_id)
        found = sessions.get(key)
        if found is None:
            found = sessions[key] = Session(c.day, c.actor_type, c.actor, c.project, c.session_id, c.workspace_id)
            if c.session_id:
                by_id.setdefault((c.day, c.session_id), found)
        found.terminal_type = found.terminal_type or c.terminal_type
        found.values[(c.source, c.metric, c.dimension)] = c.value
    for g in gateway:
        target = by_id.get((g.day, g.session_id))
        if target is None:
            actor_type, actor = gateway_actor(g)
            key = (g.day, actor_type, actor, g.workspace_id, g.session_id)
            target = sessions.get(key) or sessions.setdefault(
                key, Session(g.day, actor_type, actor, g.workspace_id, g.session_id, g.workspace_id))
            by_id[(g.day, g.session_id)] = target
        row = target.gateway.setdefault(g.model, [0] * 6)
        for i, value in enumerate((g.requests, g.input_tokens, g.output_tokens, g.cache_read_tokens,
                                   g.cache_creation_tokens, g.cost_picousd)):
            row[i] += value
    return list(sessions.values())


def cents(picousd: int) -> int:
    """Pico-dollars as whole cents, rounded half up (Anthropic's ``estimated_cost.amount``)."""
    return int((Decimal(picousd) / Decimal(10) ** 10).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def dollars(picousd: int) -> str:
    """Pico-dollars as an exact decimal string of USD."""
    return format(usd(picousd).normalize(), "f")


@dataclass(slots=True)
class Totals:
    """A group of sessions added up."""

    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0
    tools: dict[str, dict[str, int]] = field(
        default_factory=lambda: {name: {"accepted": 0, "rejected": 0} for name in TOOLS.values()})
    models: dict[str, list[int]] = field(default_factory=dict)
    terminals: Tally[str] = field(default_factory=Tally)
    workspaces: set[str] = field(default_factory=set)

    def add(self, s: Session) -> None:
        self.sessions += s.sessions()
        self.lines_added += s.total("metric", "lines_added")
        self.lines_removed += s.total("metric", "lines_removed")
        self.commits += s.total("metric", "commits")
        self.pull_requests += s.total("metric", "pull_requests")
        for tool, counts in s.tools().items():
            for decision, value in counts.items():
                self.tools[tool][decision] += value
        for model, values in s.models().items():
            row = self.models.setdefault(model, [0] * 6)
            for i, value in enumerate(values):
                row[i] += value
        self.terminals[s.terminal_type or "unknown"] += 1
        self.workspaces.add(s.workspace_id)

    def model_breakdown(self) -> list[dict[str, Any]]:
        return [{"model": model, "tokens": dict(zip(TOKENS, v[1:5], strict=True)),
                 "estimated_cost": {"currency": "USD", "amount": cents(v[5])}}
                for model, v in sorted(self.models.items())]


def anthropic_record(org_id: str, day: date, actor_type: str, actor: str, t: Totals) -> dict[str, Any]:
    """One record of ``GET /v1/organizations/usage_report/claude_code``."""
    who = {"type": "user_actor", "email_address": actor} if actor_type == "user_actor" else \
        {"type": "api_actor", "api_key_name": actor}
    return {"date": f"{day.isoformat()}T00:00:00Z", "organization_id": org_id, "actor": who,
            "customer_type": "api", "subscription_type": None,
            "terminal_type": t.terminals.most_common(1)[0][0] if t.terminals else "unknown", "is_remote": False,
            "core_metrics": {"num_sessions": t.sessions,
                             "lines_of_code": {"added": t.lines_added, "removed": t.lines_removed},
                             "commits_by_claude_code": t.commits, "pull_requests_by_claude_code": t.pull_requests},
            "tool_actions": t.tools, "model_breakdown": t.model_breakdown()}


SEED_COLUMNS = ("num_sessions", "lines_added", "lines_removed", "commits", "pull_requests", "tool_accepted",
                "tool_rejected", "requests", "input_tokens", "output_tokens", "cache_read_tokens",
                "cache_creation_tokens", "cost_usd")


def columns(group_by: str) -> list[str]:
    """The seed rows' columns, in order (CSV headers even when there are no rows)."""
    return [group_by, *(["actor_type"] if group_by == "user" else []), *SEED_COLUMNS]


def seed_row(group_by: str, name: str, actor_type: str | None, t: Totals) -> dict[str, Any]:
    """One row of ``GET /v1/admin/usage/claude-code`` (flat, so that CSV and JSON Lines read the same)."""
    sums = [sum(v[i] for v in t.models.values()) for i in range(6)]
    row: dict[str, Any] = {group_by: name}
    if actor_type is not None:
        row["actor_type"] = actor_type
    row.update({"num_sessions": t.sessions, "lines_added": t.lines_added, "lines_removed": t.lines_removed,
                "commits": t.commits, "pull_requests": t.pull_requests,
                "tool_accepted": sum(c["accepted"] for c in t.tools.values()),
                "tool_rejected": sum(c["rejected"] for c in t.tools.values()),
                "requests": sums[0], "input_tokens": sums[1], "output_tokens": sums[2],
                "cache_read_tokens": sums[3], "cache_creation_tokens": sums[4], "cost_usd": dollars(sums[5])})
    return row


class ClaudeCodeReports:
    """Both report shapes, for principals holding ``usage.read`` (narrowed to their workspaces)."""

    def __init__(self, repo: ClaudeCodeRepository) -> None:
        self._repo = repo

    async def sessions(self, who: Principal, first: date, last: date) -> list[Session]:
        """Every merged session from ``first`` to ``last`` inclusive that ``who`` may see."""
        visible = visible_workspaces(who, Permission.USAGE_READ)
        if visible is not None and not visible:
            require(who, Permission.USAGE_READ)
        merged = merge(await self._repo.counters(who.org_id, first, last),
                       await self._repo.gateway(who.org_id, first, last))
        return [s for s in merged if visible is None or s.workspace_id in visible]

    async def anthropic(self, who: Principal, first: date, end: date) -> list[dict[str, Any]]:
        """Per actor per day records, oldest day first, then by actor."""
        groups: dict[tuple[date, str, str], Totals] = {}
        for s in await self.sessions(who, first, end - timedelta(days=1)):
            groups.setdefault((s.day, s.actor_type, s.actor), Totals()).add(s)
        return [anthropic_record(who.org_id, day, kind, actor, groups[(day, kind, actor)])
                for day, kind, actor in sorted(groups)]

    async def grouped(self, who: Principal, first: date, last: date, group_by: str) -> list[dict[str, Any]]:
        """Totals per user (actor) or per project over ``first``..``last`` inclusive."""
        groups: dict[tuple[str, str | None], Totals] = {}
        for s in await self.sessions(who, first, last):
            key = (s.actor, s.actor_type) if group_by == "user" else (s.project, None)
            groups.setdefault(key, Totals()).add(s)
        return [seed_row(group_by, name, kind, groups[(name, kind)]) for name, kind in sorted(
            groups, key=lambda k: (k[0], k[1] or ""))]
