"""Policies: each workspace's policy document and compliance group, and the dry-run checker on a pasted body.

The checker calls ``PolicyService.check`` (nothing is sent upstream). Compliance groups need
``compliance.read``; without it the page says so and shows the policies alone.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import field, render, state
from steward.controlplane.paging import Paging
from steward.controlplane.rbac import Permission, allowed
from steward.errors import InvalidRequestError, StewardError

EXAMPLE = ('{"model": "claude-sonnet-4-6", "max_tokens": 1024,\n'
           ' "messages": [{"role": "user", "content": "Hello"}]}')


async def _context(request: Request, session: Session) -> dict[str, Any]:
    services, who = state(request).services, session.principal
    documents = await services.policies.list(who)
    workspaces = (await services.workspaces.list(who, Paging.of(1000)))["data"]
    groups: list[dict[str, Any]] | None = None
    if allowed(who, Permission.COMPLIANCE_READ):
        groups = (await services.compliance_groups.list(who, Paging.of(1000)))["data"]
    by_scope = {(d["scope"], d["scope_id"]): d for d in documents}
    rows = []
    for ws in workspaces:
        rows.append({"workspace": ws, "policy": by_scope.get(("workspace", ws["id"])),
                     "groups": [g["name"] for g in groups or [] if ws["id"] in g.get("workspace_ids", [])]})
    org = next((d for d in documents if d["scope"] == "organization"), None)
    return {"rows": rows, "org_policy": org, "groups": groups, "workspaces": workspaces,
            "dumps": lambda value: orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()}


async def policies_view(request: Request, session: Session) -> Response:
    return render(request, session, "policies.html", body=EXAMPLE, outcome=None, checked_workspace="",
                  **await _context(request, session))


async def policy_check(request: Request, session: Session) -> Response:
    form = await request.form()
    body, workspace = field(form, "body"), field(form, "workspace_id")
    status, outcome, error = 200, None, None
    try:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
        outcome = await state(request).services.policies.check(session.principal, workspace,
                                                                field(form, "api_key_id") or None, payload)
    except StewardError as exc:
        status, error = exc.status, exc.message
    return render(request, session, "policies.html", status=status, body=body, outcome=outcome, error=error,
                  checked_workspace=workspace, **await _context(request, session))
