"""The Admin API's objects as pydantic models, and cursor pages that walk every page when iterated.

Models accept fields they do not know (``extra="allow"``), so a newer gateway does not break an older client.
One-time secrets (``token``, ``secret``) are left out of ``repr`` so they do not end up in logs by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

T = TypeVar("T", bound=BaseModel)
Query = dict[str, Any]

OrgRole = Literal["admin", "developer", "billing", "viewer", "user", "claude_code_user"]
WorkspaceRole = Literal["workspace_admin", "workspace_developer", "workspace_user", "workspace_billing"]
InviteStatus = Literal["pending", "accepted", "expired", "revoked", "deleted"]
KeyStatus = Literal["active", "inactive", "archived", "expired"]
SpendPeriod = Literal["daily", "weekly", "monthly"]
IncreaseRequestStatus = Literal["pending", "approved", "denied"]
RateLimitType = Literal["requests_per_minute", "input_tokens_per_minute", "input_tokens_per_minute_cache_aware",
                        "output_tokens_per_minute", "tokens_per_minute", "tokens_per_day"]


class AdminObject(BaseModel):
    """Base of every object the Admin API returns."""

    model_config = ConfigDict(extra="allow")


class User(AdminObject):
    id: str
    type: Literal["user"] = "user"
    email: str
    name: str
    role: str
    added_at: datetime
    workspace_ids: list[str] = []


class InviteWorkspace(AdminObject):
    workspace_id: str
    workspace_role: str


class Invite(AdminObject):
    id: str
    type: Literal["invite"] = "invite"
    email: str
    role: str
    status: str
    invited_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    rbac_group_ids: list[str] = []
    workspaces: list[InviteWorkspace] = []
    token: str | None = Field(default=None, repr=False)
    """The invitation token: set only in the response of ``invitations.create``."""


class DataResidency(AdminObject):
    workspace_geo: str
    allowed_inference_geos: str | list[str]
    default_inference_geo: str


class Workspace(AdminObject):
    id: str
    type: Literal["workspace"] = "workspace"
    name: str
    display_color: str
    created_at: datetime
    archived_at: datetime | None = None
    tags: dict[str, str] = {}
    data_residency: DataResidency | None = None
    compartment_id: str | None = None
    external_key_id: str | None = None
    user_profile_id: str | None = None
    allowed_models: list[str] | None = None


class WorkspaceMember(AdminObject):
    type: Literal["workspace_member"] = "workspace_member"
    user_id: str
    workspace_id: str
    workspace_role: str


class KeyCreator(AdminObject):
    id: str
    type: str


class KeyScope(AdminObject):
    type: str
    workspace_id: str | None = None


class ModelScopes(AdminObject):
    models: list[str]


class APIKey(AdminObject):
    id: str
    type: Literal["api_key"] = "api_key"
    name: str
    status: str
    created_at: datetime
    expires_at: datetime | None = None
    created_by: KeyCreator | None = None
    partial_key_hint: str | None = None
    workspace_id: str | None = None
    scope: KeyScope | None = None
    principal: Any = None
    last_used_at: datetime | None = None
    rotated_at: datetime | None = None
    scopes: ModelScopes | None = None
    secret: str | None = Field(default=None, repr=False)
    """The key's secret: set only in the responses of ``keys.create`` and ``keys.rotate``."""


class AdminKey(AdminObject):
    id: str
    type: Literal["admin_key"] = "admin_key"
    name: str
    status: str
    user_id: str
    scopes: list[str] = []
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    partial_key_hint: str | None = None
    secret: str | None = Field(default=None, repr=False)
    """The admin key's secret: set only in the response of ``admin_keys.create``."""


class KeyReport(AdminObject):
    rotation_age_days: int
    unused_days: int
    rotation_due: list[APIKey]
    unused: list[APIKey]


class InvitationAcceptance(AdminObject):
    user: User
    admin_key: AdminKey
    secret: str = Field(repr=False)


class UserDeleted(AdminObject):
    id: str
    type: Literal["user_deleted"] = "user_deleted"


class WorkspaceMemberDeleted(AdminObject):
    type: Literal["workspace_member_deleted"] = "workspace_member_deleted"
    user_id: str
    workspace_id: str


class RateLimitGroup(AdminObject):
    id: str
    type: str
    display_name: str | None = None


class RateLimitValue(AdminObject):
    type: str
    value: int


class RateLimitEntry(AdminObject):
    """The organization's limits for one rate-limit group (``rl_sonnet``: every Sonnet model)."""

    type: Literal["rate_limit"] = "rate_limit"
    id: str
    group: RateLimitGroup
    limits: list[RateLimitValue] = []
    models: list[str] | None = None


class RateLimitSource(AdminObject):
    type: str


class ScopedRateLimitValue(AdminObject):
    type: str
    value: int
    org_limit: int | None = None
    source: RateLimitSource
    """Where the value is set: ``workspace`` or ``key``, or ``organization`` when inherited."""


class WorkspaceRateLimitEntry(AdminObject):
    type: Literal["workspace_rate_limit"] = "workspace_rate_limit"
    workspace_id: str
    rate_limit_id: str
    group: RateLimitGroup
    limits: list[ScopedRateLimitValue] = []
    models: list[str] | None = None


class KeyRateLimitEntry(AdminObject):
    type: Literal["key_rate_limit"] = "key_rate_limit"
    api_key_id: str
    rate_limit_id: str
    group: RateLimitGroup
    limits: list[ScopedRateLimitValue] = []
    models: list[str] | None = None


class SpendLimitScope(AdminObject):
    type: str
    """``organization``, ``workspace``, ``api_key``, ``person`` (``user_id``: a Steward user; caps the keys they
    created) or ``end_user`` (``user_id``: the ``metadata.user_id`` clients send)."""
    workspace_id: str | None = None
    api_key_id: str | None = None
    user_id: str | None = None


def _usd(cents: str) -> Decimal:
    return Decimal(cents) / 100


class SpendLimit(AdminObject):
    id: str
    type: Literal["spend_limit"] = "spend_limit"
    amount: str
    """Cents as a decimal string: ``"50000"`` is $500.00."""
    currency: str = "USD"
    is_enabled: bool = True
    period: str
    scope: SpendLimitScope
    created_at: datetime
    updated_at: datetime
    hard: bool = True
    alert_thresholds: list[int] = []

    @property
    def amount_usd(self) -> Decimal:
        """The cap in dollars."""
        return _usd(self.amount)


class SpendLimitDeleted(AdminObject):
    id: str
    type: Literal["spend_limit_deleted"] = "spend_limit_deleted"


class EffectiveSpendLimit(AdminObject):
    """A spend limit with what its scope has spent in the current period (cents, possibly fractional)."""

    spend_limit_id: str
    scope: SpendLimitScope
    period: str
    amount: str
    currency: str = "USD"
    period_to_date_spend: str
    period_start: datetime
    period_end: datetime
    hard: bool = True

    @property
    def amount_usd(self) -> Decimal:
        """The cap in dollars."""
        return _usd(self.amount)

    @property
    def spent_usd(self) -> Decimal:
        """The period's recorded spend in dollars."""
        return _usd(self.period_to_date_spend)


class UserActor(AdminObject):
    type: str
    user_id: str | None = None


class SpendLimitIncreaseRequest(AdminObject):
    id: str
    type: Literal["spend_limit_increase_request"] = "spend_limit_increase_request"
    status: str
    spend_limit_id: str
    amount: str
    """The cap asked for, in cents as a decimal string."""
    period: str | None = None
    reason: str | None = None
    actor: UserActor | None = None
    """Who asked (None when the local operator did, through the CLI)."""
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: UserActor | None = None
    spend_limit: SpendLimit | None = None


class _PageBase(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
    _query: Query = PrivateAttr(default_factory=dict)

    def next_page_query(self) -> Query | None:
        """The query of the following page, or None on the last one (``before_id`` listings go backwards)."""
        if not self.has_more:
            return None
        if self._query.get("before_id"):
            return {**self._query, "before_id": self.first_id} if self.first_id else None
        rest = {k: v for k, v in self._query.items() if k != "before_id"}
        return {**rest, "after_id": self.last_id} if self.last_id else None


class Page(_PageBase[T]):
    """One page of a listing. Iterating yields every item of this page and of the pages after it."""

    _fetch: Callable[[Query], Page[T]] | None = PrivateAttr(default=None)

    def bind(self, query: Query, fetch: Callable[[Query], Page[T]]) -> Page[T]:
        """Remember how this page was asked for, so that the next one can be fetched."""
        self._query, self._fetch = query, fetch
        return self

    def next_page(self) -> Page[T] | None:
        """The following page, fetched now, or None when this is the last one."""
        query = self.next_page_query()
        return self._fetch(query) if query is not None and self._fetch is not None else None

    def iter_pages(self) -> Iterator[Page[T]]:
        """This page and every page after it."""
        page: Page[T] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    # BaseModel iterates over (field, value) pairs; a page iterates over its items, like the official SDK's.
    def __iter__(self) -> Iterator[T]:  # type: ignore[override]
        for page in self.iter_pages():
            yield from page.data


class AsyncPage(_PageBase[T]):
    """One page of a listing from the async client. ``async for`` yields every item of every page."""

    _fetch: Callable[[Query], Awaitable[AsyncPage[T]]] | None = PrivateAttr(default=None)

    def bind(self, query: Query, fetch: Callable[[Query], Awaitable[AsyncPage[T]]]) -> AsyncPage[T]:
        """Remember how this page was asked for, so that the next one can be fetched."""
        self._query, self._fetch = query, fetch
        return self

    async def next_page(self) -> AsyncPage[T] | None:
        """The following page, fetched now, or None when this is the last one."""
        query = self.next_page_query()
        return await self._fetch(query) if query is not None and self._fetch is not None else None

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        """This page and every page after it."""
        page: AsyncPage[T] | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item
