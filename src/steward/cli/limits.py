"""``steward rate-limits ...``, ``steward spend-limits ...`` and ``steward spend-requests ...``.

Every command calls the Admin API's services as the local operator; none goes through Steward's HTTP API.
Dollar amounts given on the command line (``--amount-usd 12.50``) become the API's cents strings (``"1250"``);
tables show dollars again. The operator is not a user, so a request it files has no ``actor``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from steward.cli.common import (
    AfterId,
    Cell,
    JsonFlag,
    Limit,
    console,
    print_json,
    print_object,
    print_page,
    print_result,
    rows_table,
    run_as_operator,
    run_listing,
    show_page,
    split_csv,
    workspace_id,
    workspace_names,
)
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import StewardError
from steward.governance.limit_rules import LIMIT_TYPES, QUEUED_REQUESTS

rate_limits_app = typer.Typer(help="Show and set rate limits of the organization, a workspace or a key.",
                              no_args_is_help=True)
spend_limits_app = typer.Typer(help="Create, list, change and delete spend limits; see the spend against them.",
                               no_args_is_help=True)
spend_requests_app = typer.Typer(help="Ask for a higher spend limit; approve or deny such requests.",
                                 no_args_is_help=True)

CENT = Decimal("0.01")


def usd(cents: str | None) -> str:
    """``"50000"`` as ``$500.00``; a fraction of a cent keeps its digits (``"0.42"`` as ``$0.0042``)."""
    if cents is None:
        return ""
    amount = Decimal(cents) / 100
    return f"${amount:,.2f}" if amount == amount.quantize(CENT) else f"${amount.normalize():f}"


def to_cents(value: str | None) -> str | None:
    """``--amount-usd`` as the API's cents string: ``500`` as ``"50000"``, ``0.01`` as ``"1"``."""
    if value is None:
        return None
    try:
        cents = Decimal(value.strip().removeprefix("$").replace(",", "")) * 100
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a dollar amount such as 500 or 12.50") from None
    if not cents.is_finite() or cents < 0 or cents != cents.to_integral_value():
        raise typer.BadParameter(f"{value!r}: a non-negative amount in whole cents, such as 500 or 12.50")
    return str(int(cents))


def to_limit_value(value: str) -> int | None:
    """``--value``: a whole number, or ``none`` to clear the limit."""
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: a whole number, or none to clear the limit",
                                 param_hint="--value") from None


def scope_text(scope: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """``{"type": "workspace", "workspace_id": ...}`` as ``workspace eng`` (the name when ``names`` has it)."""
    kind = str(scope.get("type")).replace("_", " ")  # "end_user" reads "end user"
    ident = scope.get("workspace_id") or scope.get("api_key_id") or scope.get("user_id")
    return f"{kind} {(names or {}).get(ident, ident)}" if ident else kind


def _limit_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per limiter of each entry; an organization entry without limits still shows (so its id does)."""
    rows = []
    for entry in entries:
        base = {"id": entry.get("id") or entry["rate_limit_id"],
                "group": entry["group"].get("display_name") or entry["group"]["type"]}
        rows += [{**base, **limit} for limit in entry["limits"]] or [{**base, "type": "(none)"}]
    return rows


LIMIT_COLUMNS: dict[str, Cell] = {"id": "id", "group": "group", "limit": "type", "value": "value"}
SCOPED_LIMIT_COLUMNS: dict[str, Cell] = {**LIMIT_COLUMNS, "organization's": "org_limit",
                                         "set on": lambda row: row["source"]["type"]}
SPEND_LIMIT_COLUMNS: dict[str, Cell] = {
    "id": "id", "scope": lambda s: scope_text(s["scope"]), "period": "period", "amount": lambda s: usd(s["amount"]),
    "kind": lambda s: "hard" if s["hard"] else "soft", "alerts at %": lambda s: [str(t) for t in s["alert_thresholds"]],
    "updated": "updated_at"}
EFFECTIVE_COLUMNS: dict[str, Cell] = {
    "id": "spend_limit_id", "scope": lambda e: scope_text(e["scope"]), "period": "period",
    "amount": lambda e: usd(e["amount"]), "spent": lambda e: usd(e["period_to_date_spend"]),
    "used": lambda e: f"{Decimal(e['period_to_date_spend']) * 100 / Decimal(e['amount']):.1f} %"
    if Decimal(e["amount"]) else "", "kind": lambda e: "hard" if e["hard"] else "soft", "until": "period_end"}
REQUEST_COLUMNS: dict[str, Cell] = {
    "id": "id", "spend limit": "spend_limit_id",
    "current": lambda r: usd((r["spend_limit"] or {}).get("amount")), "asked": lambda r: usd(r["amount"]),
    "status": "status", "by": lambda r: r.get("requested_by") or "(operator)", "reason": "reason",
    "created": "created_at"}

Workspace = Annotated[str | None, typer.Option(help="Workspace name or id.")]
LIMIT_TYPE_HELP = (f"The limit to set: {', '.join(LIMIT_TYPES)}; or {QUEUED_REQUESTS} (the batch group only, "
                   "which also takes requests_per_minute).")
KeyId = Annotated[str | None, typer.Option("--key", help="API key id (apikey_...).")]
AmountUsd = Annotated[str, typer.Option(help="Dollars, e.g. 500 or 12.50 (whole cents).", callback=to_cents)]
NewAmountUsd = Annotated[str | None, typer.Option(help="New amount in dollars, e.g. 750.", callback=to_cents)]
Thresholds = Annotated[str | None, typer.Option(help="Alert thresholds in percent, comma-separated, e.g. 50,80,95.")]
LimitId = Annotated[str, typer.Argument(help="Spend limit id (spl_...).")]
RequestId = Annotated[str, typer.Argument(help="Increase request id (splreq_...).")]


def _thresholds(value: str | None) -> list[int] | None:
    items = split_csv(value)
    try:
        return [int(item) for item in items] if items is not None else None
    except ValueError:
        raise typer.BadParameter(f"{value!r}: whole percentages such as 50,80,95",
                                 param_hint="--thresholds") from None


def _one_level(workspace: str | None, key: str | None) -> None:
    if workspace and key:
        raise typer.BadParameter("give --workspace or --key, not both")


@rate_limits_app.command("list")
def rate_limits_list(workspace: Workspace = None, key: KeyId = None,
                     include_inherited: Annotated[bool, typer.Option(
                         help="With --workspace: also the organization's limits it inherits.")] = False,
                     as_json: JsonFlag = False) -> None:
    """The organization's limits per group (ids such as rl_sonnet), or a workspace's or a key's own."""
    _one_level(workspace, key)
    if include_inherited and not workspace:
        raise typer.BadParameter("--include-inherited needs --workspace")

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        if workspace:
            ws_id = await workspace_id(plane, workspace)
            return await plane.admin.rate_limits.list_workspace(me, ws_id, include_inherited=include_inherited)
        if key:
            return await plane.admin.rate_limits.list_key(me, key)
        return await plane.admin.rate_limits.list_org(me)

    page = run_as_operator(action)
    if as_json:
        print_json(page)
        return
    columns = SCOPED_LIMIT_COLUMNS if workspace or key else LIMIT_COLUMNS
    console.print(rows_table(_limit_rows(page["data"]), columns))


@rate_limits_app.command("set")
def rate_limits_set(group: Annotated[str, typer.Argument(help="Rate-limit entry id, e.g. rl_sonnet (see list).")],
                    limit_type: Annotated[str, typer.Option("--type", help=LIMIT_TYPE_HELP)],
                    value: Annotated[str, typer.Option(help="A whole number, or none to clear the limit.")],
                    workspace: Workspace = None, key: KeyId = None, as_json: JsonFlag = False) -> None:
    """Set (or clear) one limit of a group for the organization, a workspace (--workspace) or a key (--key)."""
    _one_level(workspace, key)
    changes = [{"type": limit_type, "value": to_limit_value(value)}]

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        if workspace:
            return await plane.admin.rate_limits.update_workspace(me, await workspace_id(plane, workspace), group,
                                                                  changes)
        if key:
            return await plane.admin.rate_limits.update_key(me, key, group, changes)
        return await plane.admin.rate_limits.update_org(me, group, changes)

    entry = run_as_operator(action)
    target = f"workspace {workspace}" if workspace else f"key {key}" if key else "the organization"
    now = ", ".join(f"{limit['type']} {limit['value']}" for limit in entry["limits"]) or "no limits of its own"
    print_result(entry, as_json, f"{group} for {target}: {now}")


def _scope(workspace: str | None, organization: bool, key: str | None, person: str | None,
           end_user: str | None) -> dict[str, Any]:
    """The scope the options name; a workspace's and a person's ids are filled in once resolved."""
    if sum(1 for given in (workspace, organization, key, person, end_user) if given) != 1:
        raise typer.BadParameter("give exactly one of --workspace, --organization, --key, --person and --end-user")
    if workspace:
        return {"type": "workspace"}
    if organization:
        return {"type": "organization"}
    if key:
        return {"type": "api_key", "api_key_id": key}
    return {"type": "person"} if person else {"type": "end_user", "user_id": end_user}


async def person_id(plane: ControlPlane, me: Principal, person: str) -> str:
    """A Steward user's id, given by id (user_...) or email address."""
    if "@" not in person:
        return person
    found = (await plane.admin.users.list(me, Paging.of(1), email=person.lower()))["data"]
    if not found:
        raise typer.BadParameter(f"no user with the email address {person!r} (see steward users list)",
                                 param_hint="--person")
    return str(found[0]["id"])


def _no_user(value: str | None) -> str | None:
    """``--user`` named an end user's ``metadata.user_id`` while its help said it capped a user's keys: it is
    refused now, naming the two options that replaced it, so that no script silently caps the wrong thing."""
    if value is not None:
        raise typer.BadParameter("--user is ambiguous and no longer accepted: use --person for a Steward user (their "
                                 "keys' spend) or --end-user for the metadata.user_id string clients send")
    return value


def _described(limit: Mapping[str, Any], scope: str) -> str:
    kind = "hard" if limit["hard"] else "soft"
    return f"{usd(limit['amount'])} {limit['period']}, {kind}, for {scope}"


@spend_limits_app.command("create")
def spend_limits_create(
    amount_usd: AmountUsd,
    workspace: Workspace = None,
    organization: Annotated[bool, typer.Option("--organization", help="The whole organization.")] = False,
    key: KeyId = None,
    person: Annotated[str | None, typer.Option(
        help="A Steward user (id user_... or email): caps the spend of every API key that person created.")] = None,
    end_user: Annotated[str | None, typer.Option(
        "--end-user", help="An end user: caps requests whose metadata.user_id is this string (whatever the key).")]
    = None,
    user: Annotated[str | None, typer.Option(hidden=True, callback=_no_user,
                                             help="Replaced by --person and --end-user.")] = None,
    period: Annotated[str, typer.Option(help="daily, weekly or monthly (UTC).")] = "monthly",
    soft: Annotated[bool, typer.Option("--soft", help="Only alert; never refuse a request.")] = False,
    thresholds: Thresholds = None,
    as_json: JsonFlag = False,
) -> None:
    """Cap the spend of a workspace, the organization, a key, a person's keys or an end user per period (hard
    unless --soft)."""
    scope, alerts = _scope(workspace, organization, key, person, end_user), _thresholds(thresholds)

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        if workspace:
            scope["workspace_id"] = await workspace_id(plane, workspace)
        if person:
            scope["user_id"] = await person_id(plane, me, person)
        return await plane.admin.spend_limits.create(me, scope, period, amount_usd, hard=not soft,
                                                     alert_thresholds=alerts)

    limit = run_as_operator(action)
    named = f"workspace {workspace}" if workspace else f"person {person}" if person else scope_text(limit["scope"])
    print_result(limit, as_json, f"Created spend limit {limit['id']}: {_described(limit, named)}")


async def scope_names(plane: ControlPlane, me: Principal, scopes: list[Mapping[str, Any]]) -> dict[str, str]:
    """Names for the scopes of a page of spend limits: workspaces by name, keys by name, people by email (a
    person or key the caller may no longer read keeps its id)."""
    names = await workspace_names(plane, me)
    for scope in scopes:
        try:
            if scope.get("type") == "person":
                names[scope["user_id"]] = (await plane.admin.users.get(me, scope["user_id"]))["email"]
            elif scope.get("type") == "api_key":
                names[scope["api_key_id"]] = (await plane.admin.keys.get(me, scope["api_key_id"]))["name"]
        except StewardError:
            continue
    return names


def _show_spend(action: Callable[[ControlPlane, Principal], Awaitable[dict[str, Any]]], as_json: bool,
                columns: Mapping[str, Cell]) -> None:
    """A page of spend limits with each scope named (``workspace eng``, ``person alice@...``, ``API key ...``)."""
    async def named(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], dict[str, str]]:
        page = await action(plane, me)
        return page, {} if as_json else await scope_names(plane, me, [r["scope"] for r in page["data"]])
    page, names = run_as_operator(named)
    print_page(page, as_json, {**columns, "scope": lambda row: scope_text(row["scope"], names)}, names)


@spend_limits_app.command("list")
def spend_limits_list(limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List the spend limits (scopes by name: workspaces, keys and people)."""
    _show_spend(lambda plane, me: plane.admin.spend_limits.list(me, Paging.of(limit, after_id=after_id)), as_json,
                SPEND_LIMIT_COLUMNS)


@spend_limits_app.command("get")
def spend_limits_get(spend_limit_id: LimitId, as_json: JsonFlag = False) -> None:
    """Show one spend limit."""
    print_object(run_as_operator(lambda plane, me: plane.admin.spend_limits.get(me, spend_limit_id)), as_json)


@spend_limits_app.command("effective")
def spend_limits_effective(as_json: JsonFlag = False) -> None:
    """Each limit with its scope's recorded spend in the current period."""
    _show_spend(lambda plane, me: plane.admin.spend_limits.effective(me), as_json, EFFECTIVE_COLUMNS)


@spend_limits_app.command("update")
def spend_limits_update(
    spend_limit_id: LimitId,
    amount_usd: NewAmountUsd = None,
    hard: Annotated[bool | None, typer.Option("--hard/--soft", help="Refuse requests over the cap, or only alert.")]
    = None,
    thresholds: Thresholds = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a limit's amount, kind or alert thresholds (its scope and period are fixed)."""
    changes = {"amount": amount_usd, "hard": hard, "alert_thresholds": _thresholds(thresholds)}
    changed = {name: value for name, value in changes.items() if value is not None}
    limit, names = run_listing(lambda plane, me: plane.admin.spend_limits.update(me, spend_limit_id, changed),
                               as_json)
    print_result(limit, as_json, f"Spend limit {limit['id']}: {_described(limit, scope_text(limit['scope'], names))}")


@spend_limits_app.command("delete")
def spend_limits_delete(spend_limit_id: LimitId, as_json: JsonFlag = False) -> None:
    """Delete a spend limit: its scope is no longer capped."""
    deleted = run_as_operator(lambda plane, me: plane.admin.spend_limits.delete(me, spend_limit_id))
    print_result(deleted, as_json, f"Deleted spend limit {deleted['id']}")


@spend_requests_app.command("create")
def spend_requests_create(
    spend_limit_id: Annotated[str, typer.Option("--limit", help="Spend limit id (spl_...).")],
    amount_usd: AmountUsd,
    reason: Annotated[str | None, typer.Option(help="Why the higher cap is needed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask for a higher cap (above the current one); an admin approves or denies."""
    asked = run_as_operator(lambda plane, me: plane.admin.increase_requests.create(me, spend_limit_id, amount_usd,
                                                                                   reason))
    current = usd((asked["spend_limit"] or {}).get("amount"))
    print_result(asked, as_json, f"Requested {usd(asked['amount'])} for spend limit {spend_limit_id} (now "
                                 f"{current}): {asked['id']}, {asked['status']}")


@spend_requests_app.command("list")
def spend_requests_list(status: Annotated[str | None, typer.Option(help="pending, approved or denied.")] = None,
                        limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List increase requests, newest first."""
    async def page(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        found = await plane.admin.increase_requests.list(me, Paging.of(limit, after_id=after_id), status=status)
        if not as_json:  # a table names who asked ("Alice <alice@example.com>"); --json keeps the API's shape
            names = await plane.admin.reports.names(me.org_id)
            for row in found["data"]:
                asker = (row.get("actor") or {}).get("user_id")
                row["requested_by"] = names.of("user_id", asker) or asker
        return found

    show_page(page, as_json, REQUEST_COLUMNS)


@spend_requests_app.command("get")
def spend_requests_get(request_id: RequestId, as_json: JsonFlag = False) -> None:
    """Show one increase request, with its spend limit."""
    print_object(run_as_operator(lambda plane, me: plane.admin.increase_requests.get(me, request_id)), as_json)


@spend_requests_app.command("approve")
def spend_requests_approve(
    request_id: RequestId,
    amount_usd: Annotated[str | None, typer.Option(help="Grant this many dollars instead of the amount asked.",
                                                   callback=to_cents)] = None,
    note: Annotated[str | None, typer.Option(help="A note for the audit trail.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a pending request: the cap becomes the amount asked for (or --amount-usd)."""
    done = run_as_operator(lambda plane, me: plane.admin.increase_requests.resolve(
        me, request_id, approve=True, amount=amount_usd, note=note))
    print_result(done, as_json, f"Approved {done['id']}: spend limit {done['spend_limit_id']} is now "
                                f"{usd(done['spend_limit']['amount'])}")


@spend_requests_app.command("deny")
def spend_requests_deny(request_id: RequestId,
                        note: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
                        as_json: JsonFlag = False) -> None:
    """Deny a pending request: the cap stays."""
    done = run_as_operator(lambda plane, me: plane.admin.increase_requests.resolve(me, request_id, approve=False,
                                                                                   note=note))
    print_result(done, as_json, f"Denied {done['id']}: spend limit {done['spend_limit_id']} stays at "
                                f"{usd(done['spend_limit']['amount'])}")
