"""Spend limits (create, list, get, update, delete, the effective view) and increase requests (a member asks,
an admin approves or denies). Amounts are cents as decimal strings, like Anthropic's API; every change is
audited and bumps the config version, so gateways enforce it within the snapshot poll interval."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, allowed, require
from steward.controlplane.shapes import page_object, rfc3339
from steward.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.governance.spend_rules import PERIODS, PICO_PER_CENT, window
from steward.ids import new_id
from steward.storage.models import ApiKey, SpendLimit, SpendLimitIncreaseRequest, User, Workspace
from steward.storage.models.spend import END_USER_SCOPE, PERSON_SCOPE
from steward.storage.repositories.admin import AdminStore, Unit

# Scope types of the API and the stored scope behind each. ``end_user`` caps the opaque ``metadata.user_id`` that
# clients send (stored as ``user``; ``user`` is still accepted on input, with the same meaning, for clients written
# before person caps); ``person`` caps a Steward user's keys (those they created).
SCOPE_ID_FIELD = {"workspace": "workspace_id", "api_key": "api_key_id", "end_user": "user_id", "user": "user_id",
                  "person": "user_id"}
END_USER_ID_CHARS = 256  # the column's width; metadata.user_id is refused past it too (stages/validate.py)
STORED_SCOPE = {"end_user": END_USER_SCOPE, "user": END_USER_SCOPE, "person": PERSON_SCOPE}
API_SCOPE = {END_USER_SCOPE: "end_user", PERSON_SCOPE: "person"}


# The largest cap: a billion dollars, the bound the spend counters compute exactly (governance/budgets.MAX_PICOUSD).
MAX_CENTS = 100_000_000_000


def _cents(value: Any, field: str = "amount") -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 12 \
            or int(value) > MAX_CENTS:
        raise InvalidRequestError(f"{field}: a non-negative integer number of cents as a decimal string, at most "
                                  f'{MAX_CENTS} ($1,000,000,000.00), e.g. "50000" for $500.00')
    return int(value)


def _thresholds(value: Any) -> list[int]:
    if value is None:
        return [50, 80, 95]
    if not isinstance(value, list) or not all(isinstance(v, int) and 0 < v <= 100 for v in value):
        raise InvalidRequestError("alert_thresholds: a list of percentages between 1 and 100")
    return sorted(set(value))


async def limit_workspace(unit: Unit, limit: SpendLimit) -> str | None:
    """The workspace a limit belongs to (a key's: the key's workspace); None for organization, person and end-user
    limits, which span workspaces."""
    if limit.scope == "workspace":
        return limit.scope_id
    if limit.scope == "api_key":
        key = await unit.get(ApiKey, limit.scope_id)
        return key.workspace_id if key is not None else None
    return None


def is_own_person_cap(principal: Principal, limit: SpendLimit) -> bool:
    """Whether ``limit`` caps ``principal``'s own keys (a person cap on them)."""
    return limit.scope == PERSON_SCOPE and principal.user_id is not None and limit.scope_id == principal.user_id


async def limit_readable(unit: Unit, principal: Principal, limit: SpendLimit) -> bool:
    """Whether ``principal`` may see a limit and its spend: usage rights in its workspace (organization-wide
    usage rights for organization, person and end-user limits), or the person a person cap caps. Every role could
    read every workspace's spend before (issue 13)."""
    return is_own_person_cap(principal, limit) or allowed(principal, Permission.USAGE_READ,
                                                           await limit_workspace(unit, limit))


def scope_object(scope: str, scope_id: str) -> dict[str, Any]:
    """A stored scope as the API shows it: ``{"type": "end_user", "user_id": ...}`` for a stored ``user``."""
    kind = API_SCOPE.get(scope, scope)
    return {"type": kind, SCOPE_ID_FIELD[kind]: scope_id} if kind in SCOPE_ID_FIELD else {"type": kind}


def limit_object(limit: SpendLimit) -> dict[str, Any]:
    scope = scope_object(limit.scope, limit.scope_id)
    return {"id": limit.id, "type": "spend_limit", "amount": str(limit.amount_cents), "currency": "USD",
            "is_enabled": True, "period": limit.period, "scope": scope, "created_at": rfc3339(limit.created_at),
            "updated_at": rfc3339(limit.updated_at), "hard": limit.hard, "alert_thresholds": limit.thresholds}


def request_object(req: SpendLimitIncreaseRequest, limit: SpendLimit | None) -> dict[str, Any]:
    return {"id": req.id, "type": "spend_limit_increase_request", "status": req.status,
            "spend_limit_id": req.spend_limit_id, "amount": str(req.amount_cents),
            "period": limit.period if limit else None, "reason": req.reason,
            "actor": {"type": "user_actor", "user_id": req.requested_by} if req.requested_by else None,
            "created_at": rfc3339(req.created_at), "resolved_at": rfc3339(req.resolved_at),
            "resolved_by": {"type": "user_actor", "user_id": req.resolved_by} if req.resolved_by else None,
            "spend_limit": limit_object(limit) if limit else None}


class SpendLimitService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def _scope(self, unit: Unit, principal: Principal, scope: dict[str, Any]) -> tuple[str, str]:
        """The stored (scope, scope id) of an API scope; a workspace, key or person must exist here."""
        kind = scope.get("type")
        if kind == "organization":
            return "organization", principal.org_id
        if kind not in SCOPE_ID_FIELD or not isinstance(scope.get(SCOPE_ID_FIELD[kind]), str) \
                or not scope[SCOPE_ID_FIELD[kind]]:
            raise InvalidRequestError("scope: {type: organization}, {type: workspace, workspace_id}, {type: api_key, "
                                      "api_key_id}, {type: person, user_id: a Steward user's id (caps the keys "
                                      "they created)} or {type: end_user, user_id: the metadata.user_id clients "
                                      "send}")
        scope_id = scope[SCOPE_ID_FIELD[kind]]
        if len(scope_id) > END_USER_ID_CHARS or "\x00" in scope_id:  # the data plane's bounds for metadata.user_id
            raise InvalidRequestError(f"scope.{SCOPE_ID_FIELD[kind]}: at most {END_USER_ID_CHARS} characters, "
                                      "without NUL")
        row: Workspace | ApiKey | User | None = None
        if kind == "workspace":
            row = await unit.get(Workspace, scope_id)
        elif kind == "api_key":
            row = await unit.get(ApiKey, scope_id)
        elif kind == "person":
            row = await unit.get(User, scope_id)
            if row is not None and row.removed_at is not None:
                row = None
        if kind in ("workspace", "api_key", "person") and (row is None or row.org_id != principal.org_id):
            hint = " (a person cap names a Steward user id, user_...; for a metadata.user_id string use " \
                   "scope type end_user)" if kind == "person" else ""
            raise NotFoundError(f"{kind}: {scope_id} not found{hint}")
        return STORED_SCOPE.get(kind, kind), scope_id

    async def _load(self, unit: Unit, principal: Principal, limit_id: str) -> SpendLimit:
        limit = await unit.get(SpendLimit, limit_id)
        if limit is None or limit.org_id != principal.org_id:
            raise NotFoundError(f"spend_limit: {limit_id} not found")
        return limit

    async def _readable(self, unit: Unit, principal: Principal, limits: Sequence[SpendLimit]) -> list[SpendLimit]:
        """The limits whose spend ``principal`` may read (``limit_readable``)."""
        if allowed(principal, Permission.USAGE_READ):  # admin, billing, viewer: every limit
            return list(limits)
        return [limit for limit in limits if await limit_readable(unit, principal, limit)]

    async def create(self, principal: Principal, scope: dict[str, Any], period: str, amount: str, *,
                     hard: bool = True, alert_thresholds: list[int] | None = None) -> dict[str, Any]:
        require(principal, Permission.SPEND_LIMITS_WRITE)
        if period not in PERIODS:
            raise InvalidRequestError(f"period: one of {', '.join(PERIODS)}")
        cents, thresholds = _cents(amount), _thresholds(alert_thresholds)
        async with self._store.unit() as unit:
            kind, scope_id = await self._scope(unit, principal, scope)
            if await unit.spend_limit_for(principal.org_id, kind, scope_id, period) is not None:
                raise ConflictError(f"A {period} spend limit for this {API_SCOPE.get(kind, kind).replace('_', ' ')} "
                                    "already exists; update it instead.")
            now = datetime.now(UTC)
            limit = SpendLimit(id=new_id("spl"), org_id=principal.org_id, scope=kind, scope_id=scope_id,
                               period=period, amount_cents=cents, hard=hard, thresholds=thresholds, created_at=now,
                               updated_at=now)
            unit.add(limit)
            unit.audit(admin_event(principal, "admin.spend_limits.create", target={"spend_limit_id": limit.id},
                                   workspace_id=scope_id if kind == "workspace" else None,
                                   after=limit_object(limit)))
            return limit_object(limit)

    async def list(self, principal: Principal, paging: Paging) -> dict[str, Any]:
        require(principal, Permission.ORG_READ)
        async with self._store.unit() as unit:
            page = await unit.spend_limits_page(principal.org_id, limit=paging.limit, before_id=paging.before_id,
                                                after_id=paging.after_id)
            return page_object([limit_object(x) for x in await self._readable(unit, principal, page)],
                               page.has_more)

    async def get(self, principal: Principal, limit_id: str) -> dict[str, Any]:
        require(principal, Permission.ORG_READ)
        async with self._store.unit() as unit:
            limit = await self._load(unit, principal, limit_id)
            if not await limit_readable(unit, principal, limit):
                raise PermissionDeniedError(f"Role {principal.role!r} may not read spend limit {limit_id}: it "
                                            "needs usage rights in its workspace.")
            return limit_object(limit)

    async def update(self, principal: Principal, limit_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        require(principal, Permission.SPEND_LIMITS_WRITE)
        async with self._store.unit() as unit:
            limit = await self._load(unit, principal, limit_id)
            before = limit_object(limit)
            self._apply(limit, changes)
            unit.add(limit)
            unit.audit(admin_event(principal, "admin.spend_limits.update", target={"spend_limit_id": limit.id},
                                   before=before, after=limit_object(limit)))
            return limit_object(limit)

    @staticmethod
    def _apply(limit: SpendLimit, changes: dict[str, Any]) -> None:
        if changes.get("amount") is not None:
            limit.amount_cents = _cents(changes["amount"])
        if changes.get("hard") is not None:
            limit.hard = bool(changes["hard"])
        if changes.get("alert_thresholds") is not None:
            limit.thresholds = _thresholds(changes["alert_thresholds"])
        limit.updated_at = datetime.now(UTC)

    async def delete(self, principal: Principal, limit_id: str) -> dict[str, Any]:
        require(principal, Permission.SPEND_LIMITS_WRITE)
        async with self._store.unit() as unit:
            limit = await self._load(unit, principal, limit_id)
            unit.audit(admin_event(principal, "admin.spend_limits.delete", target={"spend_limit_id": limit.id},
                                   before=limit_object(limit)))
            await unit.delete(limit)
        return {"id": limit_id, "type": "spend_limit_deleted"}

    async def effective(self, principal: Principal) -> dict[str, Any]:
        """Each limit with the spend recorded in its current period (shipped records; not in-flight ones)."""
        require(principal, Permission.ORG_READ)
        now = datetime.now(UTC)
        rows = []
        async with self._store.unit() as unit:
            page = await unit.spend_limits_page(principal.org_id, limit=1000, before_id=None, after_id=None)
            for limit in await self._readable(unit, principal, page):
                span = window(limit.period, now)
                spent = await unit.recorded_spend(limit, span.start)
                cents = format(Decimal(spent) / PICO_PER_CENT, "f")  # exact: cents with up to 10 decimals
                rows.append({"spend_limit_id": limit.id, "scope": limit_object(limit)["scope"],
                             "period": limit.period, "amount": str(limit.amount_cents), "currency": "USD",
                             "period_to_date_spend": cents, "period_start": rfc3339(span.start),
                             "period_end": rfc3339(span.end), "hard": limit.hard})
        return {"data": rows, "has_more": False, "next_page": None}
