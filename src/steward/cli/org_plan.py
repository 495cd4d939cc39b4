"""Policy as code, the plan: the changes that turn the live organization into the file's, each with the service
call that makes it (``apply`` runs them in order: groups, organization, then each workspace).

Removals (``-``) of policies, limits and memberships happen only with ``prune``; workspaces and groups are
never deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from steward.cli.org_file import Action, Change, live_state, parse
from steward.cli.org_scopes import OrgFileError, find_key
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

Ids = dict[str, str]  # "ws:<name>" / "group:<name>" -> id, filled from the live state and by creations


def _policy(scope: str, label: str, ref: str | None, want: Mapping[str, Any], have: Mapping[str, Any],
            prune: bool) -> list[Change]:
    current = have.get("policy")
    if "policy" in want and want["policy"] is not None:
        doc = want["policy"]
        if doc == current:
            return []

        async def put(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
            return await plane.admin.policies.put(me, scope, ids[ref] if ref else None, doc, source="apply")
        return [Change("+" if current is None else "~", f"{label} policy", current, doc, put)]
    if current is not None and ("policy" in want or prune):
        async def remove(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
            return await plane.admin.policies.delete(me, scope, ids[ref] if ref else None, source="apply")
        return [Change("-", f"{label} policy", current, None, remove)]
    return []


RateSetter = Callable[[ControlPlane, Principal, Ids, str, list[dict[str, Any]]], Awaitable[Any]]
SpendScope = Callable[[Ids], dict[str, Any]]  # the Admin API scope of new spend limits, once ids are known


def _rate_setter(scope: str, ref: str | None) -> RateSetter:
    """How rate limits are set on the organization, a workspace (``ref``: ``ws:<name>``) or a key (``ref``: its
    id)."""
    async def run(plane: ControlPlane, me: Principal, ids: Ids, group: str, values: list[dict[str, Any]]) -> Any:
        if scope == "organization":
            return await plane.admin.rate_limits.update_org(me, group, values)
        if scope == "key":
            return await plane.admin.rate_limits.update_key(me, ref or "", group, values)
        return await plane.admin.rate_limits.update_workspace(me, ids[ref or ""], group, values)
    return run


def _rates(scope: str, label: str, ref: str | None, want: Mapping[str, Any], have: Mapping[str, Any],
           prune: bool) -> list[Change]:
    if "rate_limits" not in want and not prune:
        return []
    wanted: Mapping[str, Mapping[str, int]] = want.get("rate_limits") or {}
    current: Mapping[str, Mapping[str, int]] = have.get("rate_limits") or {}
    changes = []
    for group in sorted(set(wanted) | set(current)):
        after = dict(wanted.get(group, {}))
        before = dict(current.get(group, {}))
        if not prune:
            after = {**before, **after}
        if after == before:
            continue
        values = [{"type": k, "value": after.get(k)} for k in sorted(set(after) | set(before))]

        async def update(plane: ControlPlane, me: Principal, ids: Ids, group: str = group,
                         values: list[dict[str, Any]] = values) -> Any:
            return await _rate_setter(scope, ref)(plane, me, ids, group, values)
        op = "+" if not before else "-" if not after else "~"
        changes.append(Change(op, f"{label} rate limits {group}", before or None, after or None, update))
    return changes


def _spend_delete(limit_id: str) -> Action:
    async def run(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
        return await plane.admin.spend_limits.delete(me, limit_id)
    return run


def spend_scope(scope: str, ref: str | None) -> SpendScope:
    """The Admin API scope of a spend limit: ``ref`` is ``ws:<name>`` for a workspace (its id may be known only
    once apply created it), the id of a key or person, or an end user's ``metadata.user_id``."""
    def where(ids: Ids) -> dict[str, Any]:
        if scope == "organization":
            return {"type": "organization"}
        if scope == "workspace":
            return {"type": "workspace", "workspace_id": ids[ref or ""]}
        return {"type": scope, "api_key_id" if scope == "api_key" else "user_id": ref}
    return where


def _spend_create(scope: str, ref: str | None, period: str, after: Mapping[str, Any]) -> Action:
    async def run(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
        where = spend_scope(scope, ref)(ids)
        return await plane.admin.spend_limits.create(me, where, period, str(after["amount_cents"]),
                                                     hard=after["hard"], alert_thresholds=after["alert_thresholds"])
    return run


def _spend_update(limit_id: str, after: Mapping[str, Any]) -> Action:
    async def run(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
        return await plane.admin.spend_limits.update(me, limit_id, {
            "amount": str(after["amount_cents"]), "hard": after["hard"],
            "alert_thresholds": after["alert_thresholds"]})
    return run


def _spend(scope: str, label: str, ref: str | None, want: Mapping[str, Any], have: Mapping[str, Any],
           prune: bool) -> list[Change]:
    if "spend_limits" not in want and not prune:
        return []
    wanted: Mapping[str, Mapping[str, Any]] = want.get("spend_limits") or {}
    current: Mapping[str, Mapping[str, Any]] = have.get("spend_limits") or {}
    changes = []
    for period in sorted(set(wanted) | set(current)):
        after, before = wanted.get(period), current.get(period)
        shown_before = {k: v for k, v in before.items() if k != "id"} if before else None
        if after is None and before is not None and prune:
            changes.append(Change("-", f"{label} spend limit {period}", shown_before, None,
                                  _spend_delete(before["id"])))
        elif after is not None and before is None:
            changes.append(Change("+", f"{label} spend limit {period}", None, after,
                                  _spend_create(scope, ref, period, after)))
        elif after is not None and before is not None and after != shown_before:
            changes.append(Change("~", f"{label} spend limit {period}", shown_before, after,
                                  _spend_update(before["id"], after)))
    return changes


def _groups(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[Change]:
    changes = []
    for name, want in desired.items():
        have = live.get(name)
        if have is None:
            async def create(plane: ControlPlane, me: Principal, ids: Ids, want: Mapping[str, Any] = want) -> Any:
                made = await plane.admin.compliance_groups.create(me, want["name"], want["description"],
                                                                  want["restrictions"])
                ids[f"group:{want['name']}"] = made["id"]
                if want.get("legal_hold"):
                    await plane.admin.compliance_groups.legal_hold(me, made["id"], True, "policy as code")
                return made
            changes.append(Change("+", f"compliance group {name}", None, dict(want), create))
            continue
        before = {k: have[k] for k in ("description", "restrictions")}
        after = {k: want[k] for k in ("description", "restrictions")}
        if before != after:
            async def update(plane: ControlPlane, me: Principal, ids: Ids, name: str = name,
                             after: Mapping[str, Any] = after) -> Any:
                return await plane.admin.compliance_groups.update(me, ids[f"group:{name}"], dict(after))
            changes.append(Change("~", f"compliance group {name}", before, after, update))
        if "legal_hold" in want and want["legal_hold"] != have["legal_hold"]:
            async def hold(plane: ControlPlane, me: Principal, ids: Ids, name: str = name,
                           enabled: bool = want["legal_hold"]) -> Any:
                return await plane.admin.compliance_groups.legal_hold(me, ids[f"group:{name}"], enabled,
                                                                      "policy as code")
            changes.append(Change("~", f"compliance group {name} legal hold", have["legal_hold"],
                                  want["legal_hold"], hold))
    return changes


def _memberships(name: str, want: Mapping[str, Any], have: Mapping[str, Any], prune: bool) -> list[Change]:
    if "compliance_groups" not in want and not prune:
        return []
    wanted, current = set(want.get("compliance_groups") or []), set(have.get("compliance_groups") or [])
    changes = []
    for group in sorted(wanted - current):
        async def join(plane: ControlPlane, me: Principal, ids: Ids, group: str = group) -> Any:
            return await plane.admin.compliance_groups.add_workspace(me, ids[f"group:{group}"], ids[f"ws:{name}"])
        changes.append(Change("+", f"workspace {name} in compliance group {group}", None, group, join))
    for group in sorted(current - wanted) if prune else []:
        async def leave(plane: ControlPlane, me: Principal, ids: Ids, group: str = group) -> Any:
            return await plane.admin.compliance_groups.remove_workspace(me, ids[f"group:{group}"],
                                                                        ids[f"ws:{name}"])
        changes.append(Change("-", f"workspace {name} in compliance group {group}", group, None, leave))
    return changes


def _workspace(name: str, want: Mapping[str, Any], have: Mapping[str, Any] | None, prune: bool) -> list[Change]:
    changes = []
    if have is None:
        async def create(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
            made = await plane.admin.workspaces.create(me, name, allowed_models=want.get("allowed_models"))
            ids[f"ws:{name}"] = made["id"]
            return made
        changes.append(Change("+", f"workspace {name}", None, {"allowed_models": want.get("allowed_models")},
                              create))
        have = {}
    elif "allowed_models" in want and want["allowed_models"] != have.get("allowed_models"):
        async def models(plane: ControlPlane, me: Principal, ids: Ids) -> Any:
            return await plane.admin.workspaces.update(me, ids[f"ws:{name}"],
                                                       {"allowed_models": want["allowed_models"]})
        changes.append(Change("~", f"workspace {name} allowed models", have.get("allowed_models"),
                              want["allowed_models"], models))
    label, ref = f"workspace {name}", f"ws:{name}"
    changes += _policy("workspace", label, ref, want, have, prune)
    changes += _rates("workspace", label, ref, want, have, prune)
    changes += _spend("workspace", label, ref, want, have, prune)
    changes += _memberships(name, want, have, prune)
    changes += keys_plan(name, want, have, prune)
    return changes


def plan(desired: Mapping[str, Any], live: Mapping[str, Any], *, prune: bool = False) -> tuple[list[Change], Ids]:
    """The changes in apply order, and the ids known so far (apply adds the ids of what it creates)."""
    ids: Ids = {f"ws:{n}": w["id"] for n, w in live["workspaces"].items()}
    ids.update({f"group:{n}": g["id"] for n, g in live["compliance_groups"].items()})
    changes = _groups(desired["compliance_groups"], live["compliance_groups"])
    org_want, org_have = desired["organization"], live["organization"]
    changes += _policy("organization", "organization", None, org_want, org_have, prune)
    changes += _rates("organization", "organization", None, org_want, org_have, prune)
    changes += _spend("organization", "organization", None, org_want, org_have, prune)
    for name, want in desired["workspaces"].items():
        changes += _workspace(name, want, live["workspaces"].get(name), prune)
    changes += people_plan(desired, live, prune)
    changes += end_users_plan(desired, live, prune)
    return changes, ids


def keys_plan(workspace: str, want: Mapping[str, Any], have: Mapping[str, Any], prune: bool) -> list[Change]:
    """The limits of a workspace's keys; a key the file names must exist (keys are not created by apply)."""
    if "keys" not in want and not prune:
        return []
    wanted: Mapping[str, Mapping[str, Any]] = want.get("keys") or {}
    live: Mapping[str, Mapping[str, Any]] = have.get("keys") or {}
    pairs: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []  # (the file's name, wanted, live)
    for ref, key_want in wanted.items():
        key = find_key(live, ref)
        if key is None:
            raise OrgFileError(f"workspaces ({workspace}).keys ({ref}): no live key of that name or id in workspace "
                               f"{workspace}; apply does not create keys (their secret is shown once): create it "
                               "with `steward keys create` first")
        pairs.append((ref, key_want, key))
    named = {key["id"] for _, _, key in pairs}
    pairs += [(ref, {}, key) for ref, key in live.items() if prune and key["id"] not in named]
    changes: list[Change] = []
    for ref, key_want, key in pairs:
        label = f"workspace {workspace} key {ref}"
        changes += _rates("key", label, key["id"], key_want, key, prune)
        changes += _spend("api_key", label, key["id"], key_want, key, prune)
    return changes


def people_plan(desired: Mapping[str, Any], live: Mapping[str, Any], prune: bool) -> list[Change]:
    """Person caps, by email; a person the file names must be a member (apply does not invite)."""
    if "people" not in desired and not prune:
        return []
    wanted: Mapping[str, Mapping[str, Any]] = desired.get("people") or {}
    members: Mapping[str, Mapping[str, Any]] = live.get("people") or {}
    changes: list[Change] = []
    for email in sorted(set(wanted) | {e for e, p in members.items() if p["spend_limits"] and prune}):
        have = members.get(email)
        if have is None:
            raise OrgFileError(f"people ({email}): no member of the organization with this email address; apply "
                               "does not invite people: invite them with `steward invitations create` first")
        changes += _spend("person", f"person {email}", have["id"], wanted.get(email, {"spend_limits": {}}), have,
                          prune)
    return changes


def end_users_plan(desired: Mapping[str, Any], live: Mapping[str, Any], prune: bool) -> list[Change]:
    """End-user caps, by ``metadata.user_id``."""
    if "end_users" not in desired and not prune:
        return []
    wanted: Mapping[str, Mapping[str, Any]] = desired.get("end_users") or {}
    current: Mapping[str, Mapping[str, Any]] = live.get("end_users") or {}
    changes: list[Change] = []
    for user_id in sorted(set(wanted) | (set(current) if prune else set())):
        changes += _spend("end_user", f"end user {user_id}", user_id, wanted.get(user_id, {"spend_limits": {}}),
                          current.get(user_id, {}), prune)
    return changes


async def apply(plane: ControlPlane, me: Principal, changes: list[Change], ids: Ids) -> int:
    """Run every change in order through the services (each is its own audited transaction)."""
    for change in changes:
        await change.run(plane, me, ids)
    return len(changes)


async def apply_text(plane: ControlPlane, me: Principal, text: str, *, prune: bool = False) -> list[Change]:
    """Parse an organization file and apply it (the demo and tests; the CLI shows the plan as well)."""
    changes, ids = plan(parse(text), await live_state(plane, me), prune=prune)
    await apply(plane, me, changes, ids)
    return changes
