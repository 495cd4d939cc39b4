"""``admin.rate_limits``, ``admin.workspaces.rate_limits``, ``admin.keys.rate_limits``, ``admin.spend_limits`` and
``admin.spend_limits.increase_requests``: every limit an admin sets, described once for both clients.

``admin.workspaces`` and ``admin.keys`` gain their ``rate_limits`` here, through ``WorkspacesWithLimits`` and
``KeysWithLimits``, so that the limits stay in one module and ``workspaces.py`` and ``keys.py`` need not know them.
Amounts are cents as decimal strings, as on the wire; a float is refused (money is never a float).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from steward.sdk.models import (
    EffectiveSpendLimit,
    IncreaseRequestStatus,
    KeyRateLimitEntry,
    RateLimitEntry,
    SpendLimit,
    SpendLimitDeleted,
    SpendLimitIncreaseRequest,
    SpendPeriod,
    WorkspaceRateLimitEntry,
)
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path
from steward.sdk.resources.keys import Keys
from steward.sdk.resources.workspaces import Workspaces


class LimitChange(TypedDict):
    """One limiter of a group: ``{"type": "requests_per_minute", "value": 50}``; ``value`` None clears it."""

    type: str
    value: int | None


def _limits_body(limits: Sequence[LimitChange]) -> dict[str, Any]:
    if isinstance(limits, Mapping | str):
        raise TypeError('limits: a list such as [{"type": "requests_per_minute", "value": 50}]')
    return {"limits": [dict(change) for change in limits]}


def _cents(value: str | int | None, field: str = "amount") -> str | None:
    """An amount in cents as the API's decimal string; an int is accepted, a float or bool is not."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{field}: cents as a decimal string or an int, e.g. "50000" for $500.00')
    return str(value)


class RateLimits(Resource[S]):
    """The organization's rate limits, one entry per group (``/v1/organizations/rate_limits``)."""

    @listing
    def list(self, *, group_type: str | None = None) -> ListCall[RateLimitEntry]:
        """Every group (``rl_haiku``, ``rl_sonnet``, ..., ``rl_batch``) with its limits; ``group_type``:
        ``model_group`` or ``batch``."""
        return ListCall("/v1/organizations/rate_limits", RateLimitEntry, compact(group_type=group_type))

    @endpoint
    def update(self, rate_limit_id: str, *, limits: Sequence[LimitChange]) -> Call[RateLimitEntry]:
        """Set (or, with ``value`` None, clear) the organization's limits of one group; admins only."""
        return Call("POST", path("/v1/organizations/rate_limits/{}", rate_limit_id), RateLimitEntry.model_validate,
                    body=_limits_body(limits))


class WorkspaceRateLimits(Resource[S]):
    """A workspace's own limits, below the organization's (``/v1/organizations/workspaces/{ws}/rate_limits``)."""

    @listing
    def list(self, workspace_id: str, *, include_inherited: bool = False) -> ListCall[WorkspaceRateLimitEntry]:
        """The groups the workspace sets limits for; with ``include_inherited``, the organization's too."""
        query = compact(include_inherited="true" if include_inherited else None)
        return ListCall(path("/v1/organizations/workspaces/{}/rate_limits", workspace_id), WorkspaceRateLimitEntry,
                        query)

    @endpoint
    def update(self, workspace_id: str, rate_limit_id: str, *,
               limits: Sequence[LimitChange]) -> Call[WorkspaceRateLimitEntry]:
        """Set or clear the workspace's limits of one group."""
        return Call("POST", path("/v1/organizations/workspaces/{}/rate_limits/{}", workspace_id, rate_limit_id),
                    WorkspaceRateLimitEntry.model_validate, body=_limits_body(limits))


class KeyRateLimits(Resource[S]):
    """One API key's own limits (``/v1/admin/keys/{key}/rate_limits``, a Steward addition)."""

    @listing
    def list(self, key_id: str) -> ListCall[KeyRateLimitEntry]:
        """The groups the key sets limits for."""
        return ListCall(path("/v1/admin/keys/{}/rate_limits", key_id), KeyRateLimitEntry)

    @endpoint
    def update(self, key_id: str, rate_limit_id: str, *, limits: Sequence[LimitChange]) -> Call[KeyRateLimitEntry]:
        """Set or clear the key's limits of one group."""
        return Call("POST", path("/v1/admin/keys/{}/rate_limits/{}", key_id, rate_limit_id),
                    KeyRateLimitEntry.model_validate, body=_limits_body(limits))


class WorkspacesWithLimits(Workspaces[S]):
    """``admin.workspaces``, with ``rate_limits``."""

    @property
    def rate_limits(self) -> WorkspaceRateLimits[S]:
        """The rate limits of each workspace."""
        return WorkspaceRateLimits(self._sender)


class KeysWithLimits(Keys[S]):
    """``admin.keys``, with ``rate_limits``."""

    @property
    def rate_limits(self) -> KeyRateLimits[S]:
        """The rate limits of each key."""
        return KeyRateLimits(self._sender)


class IncreaseRequests(Resource[S]):
    """Requests for a higher cap: a member asks, an admin approves or denies
    (``/v1/organizations/spend_limit_increase_requests``)."""

    @endpoint
    def create(self, *, spend_limit_id: str, amount: str | int,
               reason: str | None = None) -> Call[SpendLimitIncreaseRequest]:
        """Ask for ``amount`` cents (above the current cap)."""
        body = compact(spend_limit_id=spend_limit_id, amount=_cents(amount), reason=reason)
        return Call("POST", "/v1/organizations/spend_limit_increase_requests",
                    SpendLimitIncreaseRequest.model_validate, body=body)

    @listing
    def list(self, *, status: IncreaseRequestStatus | None = None, limit: int | None = None,
             before_id: str | None = None, after_id: str | None = None) -> ListCall[SpendLimitIncreaseRequest]:
        """Requests, newest first; a member without review rights sees their own."""
        query = compact(status=status, limit=limit, before_id=before_id, after_id=after_id)
        return ListCall("/v1/organizations/spend_limit_increase_requests", SpendLimitIncreaseRequest, query)

    @endpoint
    def get(self, request_id: str) -> Call[SpendLimitIncreaseRequest]:
        """One request, with its spend limit."""
        return Call("GET", path("/v1/organizations/spend_limit_increase_requests/{}", request_id),
                    SpendLimitIncreaseRequest.model_validate)

    @endpoint
    def approve(self, request_id: str, *, amount: str | int | None = None,
                note: str | None = None) -> Call[SpendLimitIncreaseRequest]:
        """Approve: the cap becomes the amount asked for, or ``amount`` cents when given."""
        return Call("POST", path("/v1/organizations/spend_limit_increase_requests/{}/approve", request_id),
                    SpendLimitIncreaseRequest.model_validate, body=compact(amount=_cents(amount), note=note))

    @endpoint
    def deny(self, request_id: str, *, note: str | None = None) -> Call[SpendLimitIncreaseRequest]:
        """Deny: the cap stays."""
        return Call("POST", path("/v1/organizations/spend_limit_increase_requests/{}/deny", request_id),
                    SpendLimitIncreaseRequest.model_validate, body=compact(note=note))


class SpendLimits(Resource[S]):
    """Spend caps per organization, workspace, API key, person or end user and period
    (``/v1/organizations/spend_limits``)."""

    @property
    def increase_requests(self) -> IncreaseRequests[S]:
        """Requests to raise a cap."""
        return IncreaseRequests(self._sender)

    @endpoint
    def create(self, *, scope: Mapping[str, str], period: SpendPeriod, amount: str | int, hard: bool = True,
               alert_thresholds: Sequence[int] | None = None) -> Call[SpendLimit]:
        """A cap of ``amount`` cents per ``period`` for ``scope``: ``{"type": "organization"}``,
        ``{"type": "workspace", "workspace_id": ...}``, ``{"type": "api_key", "api_key_id": ...}``,
        ``{"type": "person", "user_id": "user_..."}`` (a Steward user: every key that person created) or
        ``{"type": "end_user", "user_id": ...}`` (the ``metadata.user_id`` string clients send; ``"user"`` is the
        older name of this type, still accepted). A hard cap refuses requests that would cross it; a soft one
        (``hard=False``) only alerts. Thresholds default to 50, 80, 95 %."""
        body = compact(scope=dict(scope), period=period, amount=_cents(amount), hard=hard,
                       alert_thresholds=list(alert_thresholds) if alert_thresholds is not None else None)
        return Call("POST", "/v1/organizations/spend_limits", SpendLimit.model_validate, body=body)

    @listing
    def list(self, *, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[SpendLimit]:
        """Every spend limit of the organization."""
        query = compact(limit=limit, before_id=before_id, after_id=after_id)
        return ListCall("/v1/organizations/spend_limits", SpendLimit, query)

    @endpoint
    def get(self, spend_limit_id: str) -> Call[SpendLimit]:
        """One spend limit."""
        return Call("GET", path("/v1/organizations/spend_limits/{}", spend_limit_id), SpendLimit.model_validate)

    @endpoint
    def update(self, spend_limit_id: str, *, amount: str | int | None = None, hard: bool | None = None,
               alert_thresholds: Sequence[int] | None = None) -> Call[SpendLimit]:
        """Change the given fields (the scope and period of a limit are fixed)."""
        body = compact(amount=_cents(amount), hard=hard,
                       alert_thresholds=list(alert_thresholds) if alert_thresholds is not None else None)
        return Call("POST", path("/v1/organizations/spend_limits/{}", spend_limit_id), SpendLimit.model_validate,
                    body=body)

    @endpoint
    def delete(self, spend_limit_id: str) -> Call[SpendLimitDeleted]:
        """Remove a spend limit."""
        return Call("DELETE", path("/v1/organizations/spend_limits/{}", spend_limit_id),
                    SpendLimitDeleted.model_validate)

    @listing
    def effective(self) -> ListCall[EffectiveSpendLimit]:
        """Each limit with the spend its scope has recorded in the current period."""
        return ListCall("/v1/organizations/spend_limits/effective", EffectiveSpendLimit)
