"""Limits and budgets: spend limits with their period-to-date spend (edit, create: for the organization, a
workspace, a person - the keys that person created - or an end user's ``metadata.user_id``), organization rate
limits (edit), and spend-limit increase requests (file one, follow one's own, approve or deny).

Scopes and requesters are shown by name: workspace and key names in one query each, user names from the users
service when the principal may read users (else only the principal's own name is known)."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import dollars_from_cents, field, pager, paging, query, render, state
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, allowed
from steward.errors import InvalidRequestError, StewardError
from steward.governance.limit_rules import LIMIT_TYPES
from steward.governance.spend_rules import PERIODS


def cents_of(dollars: str) -> str:
    """Dollars typed in a form ("250" or "250.50") as the service's cents string."""
    try:
        value = Decimal(dollars.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        raise InvalidRequestError("amount: a number of dollars, e.g. 250 or 250.50") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidRequestError("amount: a non-negative number of dollars with at most two decimals")
    return str(int(value * 100))


async def limits_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    console = state(request)
    services, who = console.services, session.principal
    effective = await services.spend_limits.effective(who)
    sees_money = allowed(who, Permission.USAGE_READ)
    rows = [r for r in effective["data"] if sees_money or _own_person_cap(who, r["scope"]) or (
        r["scope"].get("workspace_id") and allowed(who, Permission.USAGE_READ, r["scope"]["workspace_id"]))]
    rate_limits = await services.rate_limits.list_org(who)
    wanted = query(request, "request_status") or ("pending" if allowed(who, Permission.SPEND_REVIEW) else "all")
    requests = await services.increase_requests.list(who, paging(request), status=None if wanted == "all" else wanted)
    workspaces = await services.workspaces.list(who, Paging.of(1000))
    key_ids = [str(r["scope"]["api_key_id"]) for r in rows if r["scope"].get("api_key_id")]
    capped = [str(r["scope"]["user_id"]) for r in rows if r["scope"].get("type") == "person"]
    names = {**await console.repo.workspace_names(who.org_id), **await console.repo.key_names(key_ids),
             **await console.repo.people_names(who.org_id, capped),  # the capped people shown, whoever reads
             **await _user_names(request, who, session.name)}
    limits_by_id = {r["spend_limit_id"]: r for r in effective["data"]}
    people = (await services.users.list(who, Paging.of(1000)))["data"] if allowed(who, Permission.SPEND_LIMITS_WRITE) \
        else []
    return render(request, session, "limits.html", status=status, spend=rows, hidden=len(effective["data"]) - len(rows),
                  rate_limits=rate_limits["data"], requests=requests["data"], pages=pager(request, requests),
                  request_status=wanted, names=names, limits_by_id=limits_by_id,
                  workspaces=workspaces["data"], people=people, periods=PERIODS, limit_types=sorted(LIMIT_TYPES),
                  **extra)


def _own_person_cap(who: Principal, scope: dict[str, Any]) -> bool:
    """A person cap on the principal themselves: theirs to read (and to ask to raise) whatever their role."""
    return scope.get("type") == "person" and bool(who.user_id) and scope.get("user_id") == who.user_id


def spend_scope(form_value: str, end_user: str) -> dict[str, Any]:
    """The scope the new-limit form names: the organization (empty), ``workspace:<id>``, ``person:<user id>``
    (the keys that person created), or ``end_user`` with the ``metadata.user_id`` typed beside it."""
    kind, _, ident = form_value.partition(":")
    if not form_value:
        return {"type": "organization"}
    if kind == "end_user":
        if not end_user.strip():
            raise InvalidRequestError("end user: type the metadata.user_id string the limit caps")
        return {"type": "end_user", "user_id": end_user.strip()}
    if kind == "person" and ident:
        return {"type": "person", "user_id": ident}
    if kind == "workspace" and ident:
        return {"type": "workspace", "workspace_id": ident}
    return {"type": "workspace", "workspace_id": form_value}  # a bare workspace id (older forms)


async def _user_names(request: Request, who: Principal, own_name: str) -> dict[str, str]:
    """Organization users' names by id: all of them for those who may read users, else one's own."""
    if allowed(who, Permission.USERS_READ):
        users = await state(request).services.users.list(who, Paging.of(1000))
        return {u["id"]: u["name"] or u["email"] for u in users["data"]}
    return {who.user_id: own_name} if who.user_id else {}


async def limits_view(request: Request, session: Session) -> Response:
    return await limits_page(request, session)


async def _act(request: Request, session: Session, action: Awaitable[dict[str, Any]], notice: str) -> Response:
    try:
        await action
    except StewardError as exc:
        return await limits_page(request, session, status=exc.status, error=exc.message)
    return await limits_page(request, session, notice=notice)


async def spend_limit_update(request: Request, session: Session) -> Response:
    form = await request.form()
    changes = {"amount": cents_of(field(form, "amount")), "hard": field(form, "hard") == "1"}
    action = state(request).services.spend_limits.update(session.principal, request.path_params["limit_id"], changes)
    return await _act(request, session, action, f"Spend limit set to ${field(form, 'amount')}.")


async def spend_limit_create(request: Request, session: Session) -> Response:
    form = await request.form()
    try:
        scope = spend_scope(field(form, "workspace_id"), field(form, "end_user"))
        amount, hard = cents_of(field(form, "amount")), field(form, "hard") == "1"
    except InvalidRequestError as exc:
        return await limits_page(request, session, status=exc.status, error=exc.message)
    action = state(request).services.spend_limits.create(session.principal, scope, field(form, "period"), amount,
                                                         hard=hard)
    return await _act(request, session, action, "Spend limit created.")


async def rate_limit_update(request: Request, session: Session) -> Response:
    form = await request.form()
    raw = field(form, "value")
    if raw and not raw.isdigit():
        return await limits_page(request, session, status=400, error="value: a positive whole number, or empty "
                                                                     "to clear")
    change = {"type": field(form, "type"), "value": int(raw) if raw else None}
    action = state(request).services.rate_limits.update_org(session.principal, request.path_params["rate_limit_id"],
                                                            [change])
    return await _act(request, session, action, "Rate limit updated.")


async def increase_resolve(request: Request, session: Session) -> Response:
    form = await request.form()
    approve = field(form, "decision") == "approve"
    action = state(request).services.increase_requests.resolve(session.principal, request.path_params["request_id"],
                                                               approve=approve, note=field(form, "note") or None)
    return await _act(request, session, action, "Request approved: the cap was raised." if approve
                      else "Request denied.")


async def increase_request(request: Request, session: Session) -> Response:
    form = await request.form()
    try:
        amount = cents_of(field(form, "amount"))
    except InvalidRequestError as exc:
        return await limits_page(request, session, status=exc.status, error=exc.message)
    action = state(request).services.increase_requests.create(session.principal, request.path_params["limit_id"],
                                                              amount, field(form, "reason") or None)
    return await _act(request, session, action, f"Request filed: a cap of {dollars_from_cents(amount)}. An "
                                                "administrator approves or denies it; its status is below.")
