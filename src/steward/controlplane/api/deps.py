"""Request dependencies of the admin routes: the services and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from steward.controlplane.container import AdminServices
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal, authenticate_admin


def _secret(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def services(request: Request) -> AdminServices:
    found: AdminServices = request.app.state.services
    return found


async def principal(request: Request, svc: Annotated[AdminServices, Depends(services)]) -> Principal:
    """The acting user, from the admin key in ``x-api-key`` or ``Authorization: Bearer``."""
    client = request.client.host if request.client else None
    async with svc.store.unit() as unit:
        who = await authenticate_admin(unit, _secret(request), request_id=request.state.request_id, ip=client)
    request.state.principal = who
    return who


def paging(limit: Annotated[int, Query(ge=1, le=1000)] = 20, before_id: str | None = None,
           after_id: str | None = None) -> Paging:
    return Paging.of(limit, before_id, after_id)


def listed(request: Request, name: str) -> list[str] | None:
    """A repeatable query parameter, accepted as ``name[]=a&name[]=b`` (the SDK's style) or ``name=a``."""
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    return values or None


Who = Annotated[Principal, Depends(principal)]
Svc = Annotated[AdminServices, Depends(services)]
Page = Annotated[Paging, Depends(paging)]
