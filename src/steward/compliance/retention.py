"""Retention: delete stored content whose group's ``data_retention_days`` have passed, never in a workspace
whose compliance group is under a legal hold. Only content is deleted: usage records and audit events (and so
the audit chain) stay. Each run that finds content due writes one ``compliance.retention.purge`` audit event
per organization, with counts only, in the same transaction as the delete.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from steward.ids import new_id
from steward.storage.models import AuditEvent
from steward.storage.repositories.governance import ContentRepository, PurgeCounts

PURGE_EVENT = "compliance.retention.purge"


@dataclass(slots=True, frozen=True)
class PurgeReport:
    """One retention run: when, whether it deleted anything, and per-organization counts."""

    at: datetime
    dry_run: bool
    organizations: tuple[PurgeCounts, ...]

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.organizations)

    @property
    def held(self) -> int:
        return sum(c.held for c in self.organizations)


def _events(at: datetime, actor: str) -> Callable[[list[PurgeCounts]], Sequence[AuditEvent]]:
    def build(counts: list[PurgeCounts]) -> Sequence[AuditEvent]:
        return [AuditEvent(id=new_id("activity"), created_at=at, org_id=c.org_id, event=PURGE_EVENT,
                           request_id=None, workspace_id=None, api_key_id=None, actor=actor, model=None,
                           input_tokens=None, output_tokens=None, tools_used=None, stop_reason=None,
                           latency_ms=None, status=None, decision="allowed", reason=None,
                           data={"deleted": c.deleted, "held_by_legal_hold": c.held, "purged_before": at.isoformat()})
                for c in counts]
    return build


async def purge(repo: ContentRepository, *, now: datetime | None = None, dry_run: bool = False,
                actor: str = "system:retention") -> PurgeReport:
    """Run retention once (``dry_run`` only counts what would go and writes nothing)."""
    at = now or datetime.now(UTC)
    builder = _events(at, actor)
    counts = await repo.purge(at, dry_run=dry_run, audit=builder)
    return PurgeReport(at, dry_run, tuple(counts))
