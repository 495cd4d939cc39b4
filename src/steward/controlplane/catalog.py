"""The model catalog as a control-plane resource: show it, list its versions, import a file, sync from the API.

Every change stores a whole new catalog document (validated by the same loader as the packaged file), writes an
admin audit event and bumps the config version in one transaction, so every gateway serves it within the snapshot
poll interval, without a restart (docs/catalog.md). Reading needs ``policies.read``, changing ``policies.write``
(the catalog is governance configuration, like a policy).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from steward.controlplane.audit import admin_event
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.errors import InvalidRequestError, UpstreamError
from steward.governance.catalog import Catalog, CatalogError, ModelInfo, family_word, packaged_bytes
from steward.ids import new_id
from steward.storage.models import CatalogVersion
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.catalog import CatalogRows, UnpricedUsage

ANTHROPIC_VERSION = "2023-06-01"
_WORD = re.compile(r"^[a-z][a-z0-9]*$")


def _model_json(info: ModelInfo) -> dict[str, Any]:
    row = info.prices[-1] if info.prices else None
    return {"id": info.id, "aliases": list(info.aliases), "display_name": info.display_name, "family": info.family,
            "status": info.status, "deprecated_at": info.deprecated_at.isoformat() if info.deprecated_at else None,
            "retires_at": info.retires_at.isoformat() if info.retires_at else None, "replacement": info.replacement,
            "priced": "own" if info.prices else "family rule",
            "input_usd_per_mtok": str(row.rates.input) if row else None,
            "output_usd_per_mtok": str(row.rates.output) if row else None}


def version_json(row: CatalogVersion) -> dict[str, Any]:
    return {"type": "catalog_version", "id": row.id, "version": row.version, "source": row.source,
            "actor": row.actor, "created_at": row.created_at.isoformat(), "summary": row.summary}


def synced_entry(model: dict[str, Any], families: frozenset[str], today: str) -> dict[str, Any] | None:
    """A catalog entry (no prices: its family rule prices it) for one ``ModelInfo`` of the API's list."""
    line = model.get("line")
    family = line if isinstance(line, str) and _WORD.match(line) else family_word(str(model["id"]), families)
    status = model.get("lifecycle") if model.get("lifecycle") in ("active", "deprecated", "retired") else "active"
    deprecated, retires = (str(model[k])[:10] if model.get(k) else None for k in ("deprecated_at", "retires_at"))
    if status == "retired" and retires is None:
        return None  # a retired model without its date cannot be served anyway
    created = str(model.get("created_at") or "")[:10] or None
    return {"id": model["id"], "aliases": [], "display_name": str(model.get("display_name") or model["id"]),
            "family": family, "created_at": created,
            "context_window": int(model.get("max_input_tokens") or 200_000),
            "max_output_tokens": int(model.get("max_tokens") or 64_000), "status": status,
            "deprecated_at": deprecated, "retires_at": retires, "prices": [],
            "note": f"Added by steward catalog sync on {today} from the API's model list; priced by its family "
                    "rule until prices are imported."}


_LIFECYCLE = ("status", "deprecated_at", "retires_at")


def lifecycle_changes(entry: dict[str, Any], model: dict[str, Any], today: str) -> dict[str, list[str | None]]:
    """What the API's ``ModelInfo`` (``lifecycle``, ``deprecated_at``, ``retires_at``) changes in a listed model's
    catalog entry: field -> [before, after]; nothing when the upstream does not report a lifecycle.

    The API's schedule is the authority (it "can be revised until retirement occurs") and is copied as reported.
    A model the API reports retired without a date keeps the catalog's date, else retires today."""
    lifecycle = model.get("lifecycle")
    if lifecycle not in ("active", "deprecated", "retired"):
        return {}
    deprecated, retires = (str(model[k])[:10] if model.get(k) else None for k in ("deprecated_at", "retires_at"))
    if lifecycle == "retired" and retires is None:
        retires = entry.get("retires_at") or today  # retired with no date given: from today on at the latest
    wanted = {"status": lifecycle, "deprecated_at": deprecated, "retires_at": retires}
    return {k: [entry.get(k), v] for k, v in wanted.items() if entry.get(k) != v}


async def fetch_upstream_models(base_url: str, api_key: str) -> list[dict[str, Any]]:
    """Every model of the upstream's ``GET /v1/models`` (all pages), with the configured upstream key."""
    headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
    models: list[dict[str, Any]] = []
    after: str | None = None
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0) as client:
        for _ in range(100):  # 100 pages of 1000: far more models than exist; bounds a misbehaving upstream
            params = {"limit": "1000", **({"after_id": after} if after else {})}
            try:
                response = await client.get("/v1/models", params=params)
            except httpx.HTTPError as exc:
                raise UpstreamError(f"catalog sync: the upstream's /v1/models could not be read ({exc})") from None
            if response.status_code != 200:
                raise UpstreamError(f"catalog sync: the upstream's /v1/models answered {response.status_code}: "
                               f"{response.text[:300]}")
            page = response.json()
            models.extend(m for m in page.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str))
            after = page.get("last_id")
            if not page.get("has_more") or not after:
                break
    return models


class CatalogService:
    def __init__(self, store: AdminStore, unpriced: UnpricedUsage) -> None:
        self._store = store
        self._unpriced = unpriced

    async def unpriced_usage(self, principal: Principal, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Usage recorded without a price in [start, end), by model: what cost reports cannot include."""
        require(principal, Permission.USAGE_READ)
        rows = await self._unpriced.by_model(principal.org_id, start, end)
        return [{"model": m, "requests": n, "input_tokens": i, "output_tokens": o} for m, n, i, o in rows]

    async def _current(self, rows: CatalogRows) -> tuple[dict[str, Any], CatalogVersion | None]:
        latest = await rows.latest()
        return (latest.document if latest is not None else orjson.loads(packaged_bytes())), latest

    async def show(self, principal: Principal) -> dict[str, Any]:
        """The catalog in force: version, where it comes from, and each model with today's status."""
        require(principal, Permission.POLICIES_READ)
        async with self._store.unit() as unit:
            document, latest = await self._current(CatalogRows(unit.session))
        catalog = Catalog.from_document(document).as_of(datetime.now(UTC).date())
        return {"type": "catalog", "version": catalog.version,
                "stored_version": version_json(latest) if latest is not None else None,
                "source": "stored" if latest is not None else "packaged",
                "data": [_model_json(m) for m in catalog.models()]}

    async def versions(self, principal: Principal, limit: int = 20) -> list[dict[str, Any]]:
        """Stored versions, newest first (none: the packaged file is in force)."""
        require(principal, Permission.POLICIES_READ)
        async with self._store.unit() as unit:
            return [version_json(r) for r in await CatalogRows(unit.session).history(limit)]

    async def import_document(self, principal: Principal, document: Any, *, origin: str = "api") -> dict[str, Any]:
        """Validate a whole catalog document and store it as the new version; 400 names the bad field's path."""
        require(principal, Permission.POLICIES_WRITE)
        try:
            catalog = Catalog.from_document(document)
        except CatalogError as exc:
            raise InvalidRequestError(f"catalog: {exc}") from None
        summary = f"imported from {origin}: {len(catalog.models())} models"
        return await self._store_version(principal, document, catalog, "import", summary)

    async def sync(self, principal: Principal, upstream: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Add the models of the API's list (``upstream``) that the catalog lacks and update the lifecycle (status,
        ``deprecated_at``, ``retires_at``) of the listed ones from it; a new version only if anything changed."""
        require(principal, Permission.POLICIES_WRITE)
        async with self._store.unit() as unit:
            document, _ = await self._current(CatalogRows(unit.session))
        current = Catalog.from_document(document)
        today = datetime.now(UTC).date().isoformat()
        entries = [e for m in upstream if current.resolve(m["id"]) is None
                   and (e := synced_entry(m, current.families, today)) is not None]
        models, updated = _updated_models(document, current, upstream, today)
        if not entries and not updated:
            return {"type": "catalog_sync", "added": [], "updated": [], "version": None}
        entries.sort(key=lambda e: e["created_at"] or "", reverse=True)  # newest first, like the file
        changed = {**document, "models": entries + models, "version": f"{document['version']}+sync.{today}"}
        try:
            catalog = Catalog.from_document(changed)
        except CatalogError as exc:
            raise InvalidRequestError(f"catalog sync: the upstream's model list does not fit the catalog: {exc}") \
                from None
        added = [e["id"] for e in entries]
        summary = "; ".join([f"sync added {', '.join(added)}"] * bool(added) + [
            f"{u['id']} {k} {old or 'none'} -> {new or 'none'}"
            for u in updated for k, (old, new) in u["changes"].items()])
        stored = await self._store_version(principal, changed, catalog, "sync", summary)
        return {"type": "catalog_sync", "added": added, "updated": updated, "version": stored}

    async def _store_version(self, principal: Principal, document: Any, catalog: Catalog, source: str,
                             summary: str) -> dict[str, Any]:
        row = CatalogVersion(id=new_id("catver"), version=catalog.version, source=source, actor=principal.actor,
                             created_at=datetime.now(UTC), summary=summary[:2000], document=document)
        async with self._store.unit() as unit:
            await unit.bump_version()  # every gateway reloads its snapshot, and with it the catalog
            CatalogRows(unit.session).add(row)
            unit.audit(admin_event(principal, f"catalog.{source}", target={"type": "catalog", "id": row.id},
                                   after={"version": catalog.version, "models": len(catalog.models()),
                                          "summary": row.summary}))
        return version_json(row)


def _updated_models(document: dict[str, Any], current: Catalog, upstream: Sequence[dict[str, Any]],
                    today: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The document's models with the upstream's lifecycle applied, and [{id, changes}] for those that changed."""
    reported: dict[str, dict[str, Any]] = {}
    for model in upstream:
        info = current.resolve(model["id"])
        if info is not None and (model["id"] == info.id or info.id not in reported):  # its own id wins over an alias
            reported[info.id] = model
    models: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    for entry in document["models"]:
        found = reported.get(str(entry.get("id"))) if isinstance(entry, dict) else None
        changes = lifecycle_changes(entry, found, today) if found is not None else {}
        if changes:
            updated.append({"id": entry["id"], "changes": changes})
        models.append({**entry, **{k: new for k, (_, new) in changes.items()}} if changes else entry)
    return models, updated
