"""Model catalog routes under ``/v1/admin``: the catalog in force, and importing a new version.

Thin: each route hands over to ``CatalogService`` (docs/catalog.md, docs/admin-api.md). Sync reads the upstream's
model list with the gateway's upstream key, so it is a CLI command (``steward catalog sync``), not a route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from steward.controlplane.api.deps import Svc, Who

router = APIRouter(prefix="/v1/admin")
Json = dict[str, Any]


@router.get("/catalog")
async def get_catalog(who: Who, svc: Svc) -> Json:
    return await svc.catalog.show(who)


@router.post("/catalog")
async def import_catalog(document: dict[str, Any], who: Who, svc: Svc) -> Json:
    return await svc.catalog.import_document(who, document, origin="the Admin API")
