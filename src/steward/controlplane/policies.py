"""Policy documents per organization, workspace and key: read, set, remove, list, history, dry run, shadow report.

Every change writes the live document, a new organization-wide version, an admin audit event and a config
version bump in one transaction, so every gateway enforces it within the snapshot poll interval. A put of the
document already live changes nothing and returns the current version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require, visible_workspaces
from steward.controlplane.workspaces import load_workspace
from steward.errors import InvalidRequestError, NotFoundError
from steward.governance import pii
from steward.governance.catalog import Catalog, ModelInfo
from steward.governance.catalog_source import CatalogSource
from steward.governance.policy import (
    EffectivePolicy,
    compile_policy,
    effective,
    evaluate,
    merge_compliance,
    resolve_model,
)
from steward.governance.tokens import estimate_input_tokens
from steward.ids import new_id
from steward.storage.models import ApiKey, Policy, PolicyVersion
from steward.storage.repositories.admin import AdminStore, Unit
from steward.storage.repositories.policies import PolicyRepository, PolicyRows

SCOPES = ("organization", "workspace", "key")


def unlisted_message(model: str) -> str:
    """The gateway's 404 text for an unlisted model under ``STEWARD_UNKNOWN_MODELS=refuse``."""
    return (f"model: {model} is not in Steward's model catalog and STEWARD_UNKNOWN_MODELS=refuse; an operator can "
            "add it with `steward catalog sync` (from the API's model list) or `steward catalog import FILE`")
SOURCES = ("api", "apply", "cli")


def policy_json(row: Policy) -> dict[str, Any]:
    return {"type": "policy", "scope": row.scope, "scope_id": row.scope_id, "document": row.document,
            "version": row.version, "updated_at": row.updated_at.isoformat(), "updated_by": row.updated_by}


def version_json(row: PolicyVersion) -> dict[str, Any]:
    return {"type": "policy_version", "id": row.id, "version": row.version, "scope": row.scope,
            "scope_id": row.scope_id, "document": row.document, "created_at": row.created_at.isoformat(),
            "actor": row.actor, "source": row.source}


class PolicyService:
    def __init__(self, store: AdminStore, repo: PolicyRepository, catalogs: CatalogSource, *,
                 unknown_models: str = "forward") -> None:
        self._store = store
        self._repo = repo
        self._catalogs = catalogs  # the catalog in force: aliases validate and the dry run resolves against it
        self._forward_unknown = unknown_models == "forward"  # STEWARD_UNKNOWN_MODELS, as the gateway applies it

    async def _target(self, unit: Unit, principal: Principal, scope: str, scope_id: str | None,
                      permission: Permission) -> tuple[str, str | None]:
        """(scope id, workspace id) after checking the target exists and ``permission`` is held there."""
        if scope == "organization":
            require(principal, permission)
            return principal.org_id, None
        if scope == "workspace" and scope_id:
            ws = await load_workspace(unit, principal, scope_id)
            require(principal, permission, ws.id)
            return ws.id, ws.id
        if scope == "key" and scope_id:
            key = await unit.get(ApiKey, scope_id)
            if key is None or key.org_id != principal.org_id:
                raise NotFoundError(f"api_key: {scope_id} not found")
            require(principal, permission, key.workspace_id)
            return key.id, key.workspace_id
        raise InvalidRequestError(f"scope: one of {', '.join(SCOPES)} (with an id for workspace and key)")

    async def get(self, principal: Principal, scope: str, scope_id: str | None = None) -> dict[str, Any] | None:
        """The live document of a scope, or None when none is set."""
        async with self._store.unit() as unit:
            target, _ = await self._target(unit, principal, scope, scope_id, Permission.POLICIES_READ)
            rows = await PolicyRows(unit.session).live(principal.org_id, scope, target)
        return policy_json(rows[0]) if rows else None

    async def put(self, principal: Principal, scope: str, scope_id: str | None, document: Mapping[str, Any], *,
                  source: str = "api") -> dict[str, Any]:
        """Validate and set a scope's document; returns {scope, scope_id, document, version}."""
        try:
            compile_policy(document, await self._catalogs.current())
        except ValueError as exc:
            raise InvalidRequestError(f"policy: {exc}") from None
        doc = dict(document)
        async with self._store.unit() as unit:
            target, workspace = await self._target(unit, principal, scope, scope_id, Permission.POLICIES_WRITE)
            rows = PolicyRows(unit.session)
            live = await rows.live(principal.org_id, scope, target)
            current = live[0] if live else None
            if current is not None and current.document == doc:
                return {"scope": scope, "scope_id": target, "document": doc, "version": current.version}
            version = await self._record(unit, rows, principal, scope, target, doc, source, workspace,
                                         current.document if current else None)
            now = datetime.now(UTC)
            if current is None:
                rows.add(Policy(id=new_id("pol"), org_id=principal.org_id, scope=scope, scope_id=target,
                                document=doc, version=version, updated_at=now, updated_by=principal.actor))
            else:
                current.document, current.version, current.updated_at = doc, version, now
                current.updated_by = principal.actor
        return {"scope": scope, "scope_id": target, "document": doc, "version": version}

    async def delete(self, principal: Principal, scope: str, scope_id: str | None = None, *,
                     source: str = "api") -> dict[str, Any]:
        """Remove a scope's document (a new version with no document); 404 when none is set."""
        async with self._store.unit() as unit:
            target, workspace = await self._target(unit, principal, scope, scope_id, Permission.POLICIES_WRITE)
            rows = PolicyRows(unit.session)
            live = await rows.live(principal.org_id, scope, target)
            if not live:
                raise NotFoundError(f"policy: no policy is set for {scope} {target}")
            version = await self._record(unit, rows, principal, scope, target, None, source, workspace,
                                         live[0].document)
            await rows.delete(live[0])
        return {"type": "policy_deleted", "scope": scope, "scope_id": target, "version": version}

    async def _record(self, unit: Unit, rows: PolicyRows, principal: Principal, scope: str, target: str,
                      doc: dict[str, Any] | None, source: str, workspace: str | None,
                      before: dict[str, Any] | None) -> int:
        if source not in SOURCES:
            raise InvalidRequestError(f"source: one of {', '.join(SOURCES)}")
        # Bump the config version first: its row lock serializes concurrent policy changes (PostgreSQL) and it
        # takes SQLite's write lock, so two changes can never read the same current version.
        await unit.bump_version()
        version = await rows.current_version(principal.org_id) + 1
        rows.add(PolicyVersion(id=new_id("polv"), org_id=principal.org_id, version=version, scope=scope,
                               scope_id=target, document=doc, created_at=datetime.now(UTC), actor=principal.actor,
                               source=source))
        action = "admin.policies.update" if doc is not None else "admin.policies.delete"
        unit.audit(admin_event(principal, action, target={"scope": scope, "scope_id": target, "version": version,
                                                          "source": source},
                               workspace_id=workspace, before={"document": before}, after={"document": doc}))
        return version

    async def list(self, principal: Principal) -> list[dict[str, Any]]:
        """Every live document the caller may read (members of a workspace: the organization's and theirs)."""
        visible = visible_workspaces(principal, Permission.POLICIES_READ)
        async with self._store.unit() as unit:
            rows = await PolicyRows(unit.session).live(principal.org_id)
            keys = {k.id: k.workspace_id for k in await unit.api_keys(principal.org_id)} if visible is not None \
                else {}
        out = []
        for row in rows:
            workspace = row.scope_id if row.scope == "workspace" else keys.get(row.scope_id)
            if visible is None or row.scope == "organization" or workspace in visible:
                out.append(policy_json(row))
        return out

    async def versions(self, principal: Principal, paging: Paging, *, scope: str | None = None,
                       scope_id: str | None = None) -> dict[str, Any]:
        """The organization's policy history, newest first (cursor pages by version id)."""
        require(principal, Permission.POLICIES_READ)
        async with self._store.unit() as unit:
            page = await PolicyRows(unit.session).versions(principal.org_id, limit=paging.limit,
                                                           before_id=paging.before_id, after_id=paging.after_id,
                                                           scope=scope, scope_id=scope_id)
        data = [version_json(r) for r in page.rows]
        return {"data": data, "has_more": page.has_more, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}

    async def check(self, principal: Principal, workspace_id: str, api_key_id: str | None,
                    body: Mapping[str, Any]) -> dict[str, Any]:
        """Dry run: every rule that would refuse ``body`` in this workspace (or for this key); nothing is sent."""
        if not isinstance(body, Mapping) or not isinstance(body.get("model"), str):
            raise InvalidRequestError("request.model: a Messages API body with a model is required")
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            require(principal, Permission.POLICIES_READ, ws.id)
            key = await unit.get(ApiKey, api_key_id) if api_key_id else None
            if api_key_id and (key is None or key.workspace_id != ws.id):
                raise NotFoundError(f"api_key: {api_key_id} not found in workspace {ws.id}")
            rows = PolicyRows(unit.session)
            catalog = await self._catalogs.current()
            docs = {(p.scope, p.scope_id): compile_policy(p.document, catalog)
                    for p in await rows.live(principal.org_id)}
            version = await rows.current_version(principal.org_id)
            compliance = merge_compliance(await rows.groups_of(ws.id))
        label = f"in workspace {ws.name!r}"
        extra: list[tuple[tuple[str, ...], str]] = []
        if ws.allowed_models is not None:
            extra.append((tuple(ws.allowed_models), label))
        scoped = (key.scopes or {}).get("models") if key is not None else None
        if key is not None and isinstance(scoped, list):
            extra.append((tuple(scoped), f"for API key {key.name!r}"))
        policy = effective(docs.get(("organization", principal.org_id)), docs.get(("workspace", ws.id)),
                           docs.get(("key", key.id)) if key is not None else None, compliance, version=version,
                           workspace_label=label, key_label=f"for API key {key.name if key else ''!r}",
                           extra_allow=extra)
        return self._decide(policy, catalog, dict(body))

    def _decide(self, policy: EffectivePolicy, catalog: Catalog, payload: dict[str, Any]) -> dict[str, Any]:
        requested = str(payload["model"])
        pinned, info = resolve_model(policy, catalog, requested)
        decisions = [d.as_dict() for d in evaluate(policy, payload, model_info=info,
                                                   input_tokens=estimate_input_tokens(payload))]
        listing = self._listing(catalog, pinned, info)
        if listing["outcome"] == "refused":  # after the policy's own rules, as the gateway decides
            decisions.insert(0, {"rule": "models.catalog", "action": "refuse", "status": 404,
                                 "message": listing["message"]})
        counts: dict[str, int] = {}
        if policy.pii_rules is not None:
            outcome = pii.apply(payload, policy.pii_rules)
            counts = dict(outcome.counts)
            decisions += [{"rule": rule, "action": "shadow", "status": 400,
                           "message": f"{rule}: would refuse or redact (shadow mode, policy v{policy.version})"}
                          for rule in outcome.shadow]
            if outcome.refused is not None:
                decisions.append({"rule": outcome.refused, "action": "refuse", "status": 400,
                                  "message": outcome.message or outcome.refused})
        allowed = not any(d["action"] == "refuse" for d in decisions)
        return {"allowed": allowed, "policy_version": policy.version, "model": pinned, "decisions": decisions,
                "pii": counts, "catalog": listing}

    def _listing(self, catalog: Catalog, model: str, info: ModelInfo | None) -> dict[str, Any]:
        """What the catalog in force says of ``model``: listed, forwarded unlisted (and how it is priced), or
        refused under ``STEWARD_UNKNOWN_MODELS=refuse`` (docs/catalog.md)."""
        source = catalog.price_source(model, datetime.now(UTC))
        family = catalog.family_of(model)
        out: dict[str, Any] = {"version": catalog.version, "listed": info is not None, "family": family,
                               "priced_as": source.id if source is not None else None}
        if info is not None:
            return out | {"outcome": "listed", "message": f"model: {model} is in the catalog ({info.status})"}
        if not self._forward_unknown:
            return out | {"outcome": "refused", "message": unlisted_message(model)}
        priced = f"priced by family {family} (as {source.id})" if source is not None else \
            "recorded as unpriced (no family in the catalog has prices)"
        return out | {"outcome": "forwarded",
                      "message": f"model: {model} is not in Steward's model catalog; forwarded "
                                 f"(STEWARD_UNKNOWN_MODELS=forward, the API decides whether it exists), {priced}"}

    async def shadow_report(self, principal: Principal, *, starting_at: datetime | None = None,
                            ending_at: datetime | None = None, workspace_id: str | None = None) -> dict[str, Any]:
        """How many requests each shadow-mode rule would have refused, by rule and workspace."""
        require(principal, Permission.POLICIES_READ, workspace_id)
        end = ending_at or datetime.now(UTC)
        start = starting_at or end - timedelta(days=7)
        if start.tzinfo is None or end.tzinfo is None or start >= end:
            raise InvalidRequestError("starting_at must be before ending_at (both with a time zone)")
        counts = await self._repo.shadow_counts(principal.org_id, start, end, workspace_id)
        data = [{"workspace_id": ws, "rule": rule, "would_refuse": n}
                for (ws, rule), n in sorted(counts.items(), key=lambda item: (-item[1], item[0][1]))]
        return {"data": data, "starting_at": start.isoformat(), "ending_at": end.isoformat(),
                "total": sum(counts.values())}
