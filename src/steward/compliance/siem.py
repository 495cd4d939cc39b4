"""The audit trail for machines: verification of the chains and the SIEM feed.

The feed is the chain itself read from a cursor (the chain position, per organization), so it is gap-free and
in a fixed order: a SIEM that stores the last cursor it saw never misses or repeats an event, even though
events reach the database late and out of order. Each line carries the position's link, so the SIEM can also
keep its own copy of the chain heads.
"""

from __future__ import annotations

from typing import Any

import orjson

from steward.compliance.activities import activity_type
from steward.compliance.chain import Chains, event_dict
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.errors import InvalidRequestError


def _cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise InvalidRequestError("after: a cursor returned by this feed (a chain position, digits only)")
    return int(value)


class AuditTrailService:
    """``GET /v1/admin/audit/verify`` and ``GET /v1/admin/audit/events``: Permission.AUDIT_READ."""

    def __init__(self, chains: Chains) -> None:
        self.chains = chains

    async def verify(self, principal: Principal) -> dict[str, Any]:
        """Recompute the principal's organization's chain; every problem located."""
        require(principal, Permission.AUDIT_READ)
        result = await self.chains.verify(principal.org_id)
        return {"valid": not result.problems, "signing_key_id": self.chains.key.key_id, **result.as_dict()}

    async def events(self, principal: Principal, *, after: str | None = None, limit: int = 1000
                     ) -> tuple[list[dict[str, Any]], str]:
        """Sealed events after the cursor, in chain order, and the cursor to continue from."""
        require(principal, Permission.AUDIT_READ)
        if not 1 <= limit <= 10000:
            raise InvalidRequestError("limit: Input should be between 1 and 10000")
        start = _cursor(after)
        rows = await self.chains.repo.feed(principal.org_id, start, limit)
        lines = [{"cursor": str(link.seq), "seq": link.seq, "link": link.link, "activity_type": activity_type(ev),
                  "event": event_dict(ev)} for link, ev in rows]
        return lines, str(rows[-1][0].seq if rows else start)


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    """JSON Lines: one object per line, each line ending in a newline."""
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
