"""Policy as code, the engine: read an organization file (YAML), read the live state through the services,
compute the changes between them, apply them through the same services, and write the live state back.

Every field is normalized the same way on both sides, so a file exported from a live organization plans clean:
it holds every rate limit (organization, workspace, key) and every spend limit (organization, workspace, key,
person, end user); keys, people and end users are in ``org_scopes.py``. What apply never does: delete workspaces
or compliance groups, create keys or people, or rename the organization. What it removes only with ``prune``:
policies, rate and spend limits, and group memberships that a described scope no longer names.
A workspace that the file does not list is never touched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from steward.cli.org_scopes import (
    OrgFileError,
    export_capped,
    export_keys,
    live_end_users,
    live_keys,
    live_people,
    live_rates,
    live_spend,
    parse_end_users,
    parse_keys,
    parse_people,
)
from steward.compliance.groups import check_restrictions
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import StewardError
from steward.governance.policy import compile_policy

DEFAULT_THRESHOLDS = [50, 80, 95]
ORG_FIELDS = ("name", "policy", "rate_limits", "spend_limits")
GROUP_FIELDS = ("name", "description", "restrictions", "legal_hold")
WORKSPACE_FIELDS = ("name", "allowed_models", "policy", "rate_limits", "spend_limits", "compliance_groups", "keys")
Action = Callable[[ControlPlane, Principal, dict[str, str]], Awaitable[Any]]


@dataclass(slots=True)
class Change:
    """One difference: ``op`` is ``+`` (add), ``-`` (remove) or ``~`` (change); ``run`` makes it so."""

    op: str
    target: str
    before: Any
    after: Any
    run: Action


# --- normalizing -----------------------------------------------------------------------------------------------

def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OrgFileError(f"{where}: a mapping")
    return dict(value)


def _only(value: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise OrgFileError(f"{where}.{unknown[0]}: unknown field (expected {', '.join(fields)})")


def _cents(value: Any, where: str) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise OrgFileError(f"{where}.amount_usd: a number of dollars, e.g. 500 or 99.50") from None
    cents = amount * 100
    if isinstance(value, bool) or amount < 0 or cents != cents.to_integral_value():
        raise OrgFileError(f"{where}.amount_usd: a non-negative number of dollars with at most 2 decimals")
    return int(cents)


def _spend(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``[{period, amount_usd, hard?, alert_thresholds?}]`` -> {period: {amount_cents, hard, alert_thresholds}}."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise OrgFileError(f"{where}: a list of {{period, amount_usd, hard, alert_thresholds}}")
    out: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(value):
        item = _mapping(raw, f"{where}[{i}]")
        _only(item, ("period", "amount_usd", "hard", "alert_thresholds"), f"{where}[{i}]")
        period = item.get("period")
        if not isinstance(period, str) or period in out:
            raise OrgFileError(f"{where}[{i}].period: daily, weekly or monthly, once per scope")
        thresholds = item.get("alert_thresholds", DEFAULT_THRESHOLDS)
        out[period] = {"amount_cents": _cents(item.get("amount_usd"), f"{where}[{i}]"),
                       "hard": bool(item.get("hard", True)),
                       "alert_thresholds": sorted(set(thresholds)) if isinstance(thresholds, list) else thresholds}
    return out


def _rates(value: Any, where: str) -> dict[str, dict[str, int]]:
    """``{rl_sonnet: {requests_per_minute: 100, ...}}``."""
    out: dict[str, dict[str, int]] = {}
    for group, raw in _mapping(value, where).items():
        limits = _mapping(raw, f"{where}.{group}")
        for kind, number in limits.items():
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise OrgFileError(f"{where}.{group}.{kind}: a positive integer")
        out[str(group)] = {str(k): int(v) for k, v in limits.items()}
    return out


def _policy(value: Any, where: str) -> dict[str, Any] | None:
    """A policy document, validated up front so that a bad one stops the whole apply before any change."""
    if value is None:
        return None
    document = _mapping(value, where)
    try:
        compile_policy(document)
    except ValueError as exc:
        raise OrgFileError(f"{where}: {exc}") from None
    return document


def _workspace(item: Any, i: int) -> dict[str, Any]:
    ws = _mapping(item, f"workspaces[{i}]")
    _only(ws, WORKSPACE_FIELDS, f"workspaces[{i}]")
    if not isinstance(ws.get("name"), str):
        raise OrgFileError(f"workspaces[{i}].name: a workspace name")
    out: dict[str, Any] = {"name": ws["name"]}
    where = f"workspaces[{i}] ({ws['name']})"
    if "allowed_models" in ws:
        models = ws["allowed_models"]
        if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
            raise OrgFileError(f"{where}.allowed_models: a list of model ids or patterns, or null")
        out["allowed_models"] = models
    if "policy" in ws:
        out["policy"] = _policy(ws["policy"], f"{where}.policy")
    if "rate_limits" in ws:
        out["rate_limits"] = _rates(ws["rate_limits"], f"{where}.rate_limits")
    if "spend_limits" in ws:
        out["spend_limits"] = _spend(ws["spend_limits"], f"{where}.spend_limits")
    if "compliance_groups" in ws:
        groups = ws["compliance_groups"] or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise OrgFileError(f"{where}.compliance_groups: a list of group names")
        out["compliance_groups"] = sorted(set(groups))
    if "keys" in ws:
        out["keys"] = parse_keys(ws["keys"], f"{where}.keys", _spend, _rates)
    return out


def _group(item: Any, i: int) -> dict[str, Any]:
    group = _mapping(item, f"compliance_groups[{i}]")
    _only(group, GROUP_FIELDS, f"compliance_groups[{i}]")
    if not isinstance(group.get("name"), str):
        raise OrgFileError(f"compliance_groups[{i}].name: a group name")
    try:
        restrictions = check_restrictions(group.get("restrictions"))
    except StewardError as exc:
        raise OrgFileError(f"compliance_groups[{i}] ({group['name']}).{exc.message}") from None
    out = {"name": group["name"], "description": group.get("description"), "restrictions": restrictions}
    if "legal_hold" in group:
        out["legal_hold"] = bool(group["legal_hold"])
    return out


def _organization(value: Any) -> dict[str, Any]:
    org = _mapping(value, "organization")
    _only(org, ORG_FIELDS, "organization")
    state_org: dict[str, Any] = {}
    if "name" in org:
        state_org["name"] = org["name"]
    if "policy" in org:
        state_org["policy"] = _policy(org["policy"], "organization.policy")
    if "rate_limits" in org:
        state_org["rate_limits"] = _rates(org["rate_limits"], "organization.rate_limits")
    if "spend_limits" in org:
        state_org["spend_limits"] = _spend(org["spend_limits"], "organization.spend_limits")
    return state_org


def parse(text: str) -> dict[str, Any]:
    """The desired state from YAML text (``yaml.safe_load``: no tags, no code)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OrgFileError(f"not valid YAML: {exc}") from None
    doc = _mapping(raw, "the file")
    _only(doc, ("organization", "compliance_groups", "workspaces", "people", "end_users"), "the file")
    state_org = _organization(doc.get("organization"))
    groups = [_group(g, i) for i, g in enumerate(doc.get("compliance_groups") or [])]
    workspaces = [_workspace(w, i) for i, w in enumerate(doc.get("workspaces") or [])]
    for kind, items in (("compliance_groups", groups), ("workspaces", workspaces)):
        names = [item["name"] for item in items]
        if len(names) != len(set(names)):
            raise OrgFileError(f"{kind}: each name once")
    known = {g["name"] for g in groups}
    for ws in workspaces:
        for name in ws.get("compliance_groups", []):
            if name not in known:
                raise OrgFileError(f"workspaces ({ws['name']}).compliance_groups: {name!r} is not a group in the file")
    out = {"organization": state_org, "compliance_groups": {g["name"]: g for g in groups},
           "workspaces": {w["name"]: w for w in workspaces}}
    if "people" in doc:
        out["people"] = parse_people(doc["people"], _spend)
    if "end_users" in doc:
        out["end_users"] = parse_end_users(doc["end_users"], _spend)
    return out


# --- the live state -------------------------------------------------------------------------------------------

async def _every_spend_limit(plane: ControlPlane, me: Principal) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await plane.admin.spend_limits.list(me, Paging.of(1000, after_id=after))
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["last_id"]


async def live_state(plane: ControlPlane, me: Principal) -> dict[str, Any]:
    """The organization as the services see it, in the file's normalized shape (spend limits keep their ids)."""
    admin = plane.admin
    org = await admin.organization.current()
    spend = await _every_spend_limit(plane, me)
    org_rates = (await admin.rate_limits.list_org(me))["data"]
    org_policy = await admin.policies.get(me, "organization")
    groups = await admin.compliance_groups.all(me)
    group_names = {g["id"]: g["name"] for g in groups}
    workspaces: dict[str, dict[str, Any]] = {}
    for ws in (await admin.workspaces.list(me, Paging.of(1000)))["data"]:
        policy = await admin.policies.get(me, "workspace", ws["id"])
        rates = (await admin.rate_limits.list_workspace(me, ws["id"]))["data"]
        workspaces[ws["name"]] = {
            "name": ws["name"], "id": ws["id"], "allowed_models": ws["allowed_models"],
            "policy": policy["document"] if policy else None,
            "rate_limits": live_rates(rates, "rate_limit_id"),
            "spend_limits": live_spend(spend, "workspace", "workspace_id", ws["id"]),
            "keys": await live_keys(plane, me, ws["id"], spend),
            "compliance_groups": sorted(group_names[g["id"]] for g in groups if ws["id"] in g["workspace_ids"])}
    return {"organization": {"name": org.name, "policy": org_policy["document"] if org_policy else None,
                             "rate_limits": live_rates(org_rates, "id"),
                             "spend_limits": live_spend(spend, "organization", None, None)},
            "compliance_groups": {g["name"]: {"name": g["name"], "description": g["description"],
                                              "restrictions": g["restrictions"], "legal_hold": g["legal_hold"],
                                              "id": g["id"]} for g in groups},
            "workspaces": workspaces, "people": (people := await live_people(plane, me, spend)),
            "end_users": live_end_users(spend), "left_out": left_out(spend, people)}


def left_out(spend: list[dict[str, Any]], people: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the file cannot hold, said aloud by export and plan: a person cap on someone who is no longer a member
    (the file names people by email; the cap is still enforced on the keys they created)."""
    members = {p["id"] for p in people.values()}
    return [f"spend limit {s['id']} caps {s['scope']['user_id']}, who is no longer a member: it is still enforced "
            f"on the keys they created, and not in the file (`steward spend-limits delete {s['id']}` removes it)"
            for s in spend if s["scope"]["type"] == "person" and s["scope"]["user_id"] not in members]


def export_document(live: Mapping[str, Any]) -> dict[str, Any]:
    """The live state as a file (plans clean when applied back)."""
    def spend(limits: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{"period": p, "amount_usd": _usd(v["amount_cents"]), "hard": v["hard"],
                 "alert_thresholds": v["alert_thresholds"]} for p, v in sorted(limits.items())]
    org = live["organization"]
    out: dict[str, Any] = {"organization": {"name": org["name"], "policy": org["policy"],
                                            "rate_limits": org["rate_limits"],
                                            "spend_limits": spend(org["spend_limits"])}}
    out["compliance_groups"] = [{k: g[k] for k in GROUP_FIELDS} for g in live["compliance_groups"].values()]
    out["workspaces"] = [{"name": w["name"], "allowed_models": w["allowed_models"], "policy": w["policy"],
                          "rate_limits": w["rate_limits"], "spend_limits": spend(w["spend_limits"]),
                          "compliance_groups": w["compliance_groups"], "keys": export_keys(w["keys"], spend)}
                         for w in live["workspaces"].values()]
    out["people"] = export_capped(live["people"], "email", spend)
    out["end_users"] = export_capped(live["end_users"], "user_id", spend)
    return out


def _usd(cents: int) -> int | float | str:
    value = Decimal(cents) / 100
    return int(value) if value == value.to_integral_value() else str(value)


def dump(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False, allow_unicode=True)
