"""Policy as code below and beside workspaces: the limits of API keys (listed under their workspace), person caps
(a Steward user's keys, by email) and end-user caps (a ``metadata.user_id``), read from the file, read live and
exported, so that ``export`` covers every rate and spend limit there is.

Keys and people are named, never created: a key's secret is shown once and a person joins by invitation, so a file
naming a key or a person the organization does not have is refused (``OrgFileError``) before any change. A key is
named by its name, or by its id (``apikey_...``) where its workspace has several live keys of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

SpendParser = Callable[[Any, str], dict[str, dict[str, Any]]]
RateParser = Callable[[Any, str], dict[str, dict[str, int]]]
KEY_FIELDS = ("name", "rate_limits", "spend_limits")
PERSON_FIELDS = ("email", "spend_limits")
END_USER_FIELDS = ("user_id", "spend_limits")
DEFAULT_THRESHOLDS = [50, 80, 95]


class OrgFileError(ValueError):
    """The file does not describe an organization; the message names the field."""


def _items(value: Any, where: str, fields: tuple[str, ...], ident: str) -> list[tuple[str, dict[str, Any], str]]:
    """``[{<ident>: ..., ...}]`` as (identifier, item, where) triples; each identifier once."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise OrgFileError(f"{where}: a list of {{{', '.join(fields)}}}")
    out: list[tuple[str, dict[str, Any], str]] = []
    for i, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            raise OrgFileError(f"{where}[{i}]: a mapping")
        item = dict(raw)
        unknown = sorted(set(item) - set(fields))
        if unknown:
            raise OrgFileError(f"{where}[{i}].{unknown[0]}: unknown field (expected {', '.join(fields)})")
        name = item.get(ident)
        if not isinstance(name, str) or not name:
            raise OrgFileError(f"{where}[{i}].{ident}: a string")
        out.append((name, item, f"{where}[{i}] ({name})"))
    names = [name for name, _, _ in out]
    if len(names) != len(set(names)):
        raise OrgFileError(f"{where}: each {ident} once")
    return out


def parse_keys(value: Any, where: str, spend: SpendParser, rates: RateParser) -> dict[str, dict[str, Any]]:
    """``keys: [{name, rate_limits?, spend_limits?}]`` of one workspace, by key name (or id)."""
    out: dict[str, dict[str, Any]] = {}
    for name, item, at in _items(value, where, KEY_FIELDS, "name"):
        key: dict[str, Any] = {"name": name}
        if "rate_limits" in item:
            key["rate_limits"] = rates(item["rate_limits"], f"{at}.rate_limits")
        if "spend_limits" in item:
            key["spend_limits"] = spend(item["spend_limits"], f"{at}.spend_limits")
        out[name] = key
    return out


def parse_people(value: Any, spend: SpendParser) -> dict[str, dict[str, Any]]:
    """``people: [{email, spend_limits}]``: person caps, by email address (lower case)."""
    out: dict[str, dict[str, Any]] = {}
    for email, item, at in _items(value, "people", PERSON_FIELDS, "email"):
        out[email.strip().lower()] = {"email": email.strip().lower(),
                                      "spend_limits": spend(item.get("spend_limits"), f"{at}.spend_limits")}
    return out


def parse_end_users(value: Any, spend: SpendParser) -> dict[str, dict[str, Any]]:
    """``end_users: [{user_id, spend_limits}]``: caps of a ``metadata.user_id``."""
    return {user_id: {"user_id": user_id, "spend_limits": spend(item.get("spend_limits"), f"{at}.spend_limits")}
            for user_id, item, at in _items(value, "end_users", END_USER_FIELDS, "user_id")}


def live_spend(limits: list[dict[str, Any]], kind: str, field: str | None,
               ident: str | None) -> dict[str, dict[str, Any]]:
    """The spend limits of one scope (``kind`` and, unless organization-wide, ``field`` == ``ident``), by period,
    normalized as the file's, with their ids."""
    out = {}
    for limit in limits:
        where = limit["scope"]
        if where["type"] == kind and (field is None or where.get(field) == ident):
            out[limit["period"]] = {"amount_cents": int(limit["amount"]), "hard": bool(limit["hard"]),
                                    "alert_thresholds": sorted(limit["alert_thresholds"] or DEFAULT_THRESHOLDS),
                                    "id": limit["id"]}
    return out


def live_rates(entries: list[dict[str, Any]], id_field: str) -> dict[str, dict[str, int]]:
    return {e[id_field]: {x["type"]: x["value"] for x in e["limits"]} for e in entries if e["limits"]}


async def live_keys(plane: ControlPlane, me: Principal, workspace_id: str,
                    spend: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every live (not archived) key of a workspace with its own limits, by name (by id where the name is not
    unique in the workspace)."""
    keys: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await plane.admin.keys.list(me, Paging.of(1000, after_id=after), workspace_id=workspace_id)
        keys += [k for k in page["data"] if k["status"] != "archived"]
        if not page["has_more"]:
            break
        after = page["last_id"]
    names = [k["name"] for k in keys]
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        ref = key["name"] if names.count(key["name"]) == 1 else key["id"]
        rates = (await plane.admin.rate_limits.list_key(me, key["id"]))["data"]
        out[ref] = {"name": ref, "id": key["id"], "rate_limits": live_rates(rates, "rate_limit_id"),
                    "spend_limits": live_spend(spend, "api_key", "api_key_id", key["id"])}
    return out


def find_key(keys: Mapping[str, Mapping[str, Any]], ref: str) -> Mapping[str, Any] | None:
    """A live key by the file's name for it: its name, or its id."""
    return keys.get(ref) or next((k for k in keys.values() if k["id"] == ref), None)


async def live_people(plane: ControlPlane, me: Principal,
                      spend: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every member of the organization by email, with their person caps (the file names people by email)."""
    out: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        page = await plane.admin.users.list(me, Paging.of(1000, after_id=after))
        for user in page["data"]:
            out[user["email"].lower()] = {"email": user["email"].lower(), "id": user["id"],
                                          "spend_limits": live_spend(spend, "person", "user_id", user["id"])}
        if not page["has_more"]:
            return out
        after = page["last_id"]


def live_end_users(spend: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every end user with a cap, by ``metadata.user_id``."""
    ids = sorted({s["scope"]["user_id"] for s in spend if s["scope"]["type"] == "end_user"})
    return {u: {"user_id": u, "spend_limits": live_spend(spend, "end_user", "user_id", u)} for u in ids}


def export_keys(keys: Mapping[str, dict[str, Any]],
                spend: Callable[[Mapping[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The keys of a workspace that have limits of their own, as the file lists them."""
    return [{"name": ref, "rate_limits": k["rate_limits"], "spend_limits": spend(k["spend_limits"])}
            for ref, k in sorted(keys.items()) if k["rate_limits"] or k["spend_limits"]]


def export_capped(items: Mapping[str, dict[str, Any]], ident: str,
                  spend: Callable[[Mapping[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """People (``email``) or end users (``user_id``) with caps, as the file lists them."""
    return [{ident: name, "spend_limits": spend(item["spend_limits"])} for name, item in sorted(items.items())
            if item["spend_limits"]]
