"""GET /v1/models and /v1/models/{id}: the catalog in force, narrowed to what the caller's key may use.

The catalog is the snapshot's (stored version or packaged file, statuses as of today): a model leaves the list on
its ``retires_at`` date. The key's policy (else its workspace's) decides: allow and deny patterns, and deprecated
models when the scope refuses them. ``/v1/models/{alias}`` answers with the model a scope pins that alias to.
Under ``STEWARD_UNKNOWN_MODELS=forward`` an id the catalog does not list is asked of the upstream (its answer,
404 included, is relayed), when the scope's policy admits the name: the API may know a model Steward does not yet.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from steward.asgi import Send
from steward.dataplane.context import RequestContext
from steward.dataplane.forward import response_headers, upstream_headers
from steward.dataplane.http import send_bytes
from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.dataplane.stages.authorize import retired_error
from steward.dataplane.upstream import Upstream
from steward.errors import InvalidRequestError, NotFoundError
from steward.governance.catalog import Catalog, ModelInfo
from steward.governance.policy import EffectivePolicy, evaluate, model_visible

# What a model id can look like (the API's ids and aliases); anything else is not asked of the upstream.
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")


def model_object(info: ModelInfo) -> dict[str, Any]:
    """Anthropic's ModelInfo shape."""
    created = info.created_at or datetime(2025, 1, 1, tzinfo=UTC).date()
    return {
        "id": info.id, "type": "model", "display_name": info.display_name,
        "created_at": f"{created.isoformat()}T00:00:00Z",
        "max_input_tokens": info.context_window, "max_tokens": info.max_output_tokens,
        "lifecycle": info.status, "line": info.family,
        "deprecated_at": f"{info.deprecated_at.isoformat()}T00:00:00Z" if info.deprecated_at else None,
        "retires_at": f"{info.retires_at.isoformat()}T00:00:00Z" if info.retires_at else None,
        "capabilities": None,
    }


def _policy(workspace: WorkspaceEntry | None, key: KeyEntry | None) -> EffectivePolicy | None:
    if key is not None and key.policy is not None:
        return key.policy
    return workspace.policy if workspace is not None else None


def _allowed(info: ModelInfo, workspace: WorkspaceEntry | None, key: KeyEntry | None) -> bool:
    return info.status != "retired" and model_visible(_policy(workspace, key), info)


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequestError("limit: Input should be an integer between 1 and 1000")
    return int(raw)


def list_models(catalog: Catalog, workspace: WorkspaceEntry | None, key: KeyEntry | None,
                query: dict[str, str]) -> dict[str, Any]:
    """A cursor page (newest first) of the models this workspace may use."""
    limit = _limit(query)
    models = sorted((m for m in catalog.models() if _allowed(m, workspace, key)),
                    key=lambda m: (m.created_at or datetime(1970, 1, 1).date(), m.id), reverse=True)
    ids = [m.id for m in models]
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None:
        if after not in ids:
            raise InvalidRequestError(f"after_id: unknown model id {after!r}")
        window = models[ids.index(after) + 1:][:limit]
        more = ids.index(after) + 1 + limit < len(models)
    elif before is not None:
        if before not in ids:
            raise InvalidRequestError(f"before_id: unknown model id {before!r}")
        end = ids.index(before)
        window = models[max(0, end - limit):end]
        more = end - limit > 0
    else:
        window, more = models[:limit], limit < len(models)
    data = [model_object(m) for m in window]
    return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def get_model(catalog: Catalog, workspace: WorkspaceEntry | None, key: KeyEntry | None,
              model_id: str) -> dict[str, Any]:
    policy = _policy(workspace, key)
    info = catalog.resolve(policy.aliases.get(model_id, model_id) if policy is not None else model_id)
    if info is not None and info.status == "retired":
        raise retired_error(model_id, info)
    if info is None or not _allowed(info, workspace, key):
        raise NotFoundError(f"model: {model_id}")
    return model_object(info)


class UnlistedModels:
    """``GET /v1/models/{id}`` for an id the catalog does not list (``STEWARD_UNKNOWN_MODELS=forward``): asks the
    upstream with Steward's key and the client's forwarded headers (its ``anthropic-version``), as the other
    forwarded calls do, and relays the answer. Costs one upstream call, only for ids the catalog lacks."""

    def __init__(self, upstream: Upstream, forwarded_headers: tuple[str, ...]) -> None:
        self._upstream = upstream
        self._forwarded = forwarded_headers

    @staticmethod
    def name(catalog: Catalog, workspace: WorkspaceEntry | None, key: KeyEntry | None, model_id: str) -> str | None:
        """The id to ask the upstream for: unlisted, well formed, and admitted by the scope's allow and deny rules
        (after its alias pinning); None when the catalog answers instead."""
        policy = _policy(workspace, key)
        name = policy.aliases.get(model_id, model_id) if policy is not None else model_id
        if catalog.resolve(name) is not None or not _MODEL_ID.match(name):
            return None
        if policy is not None and any(d.action == "refuse" for d in evaluate(policy, {"model": name},
                                                                               model_info=None, models_only=True)):
            return None
        return name

    async def relay(self, ctx: RequestContext, send: Send, name: str, query: bytes) -> None:
        """The upstream's answer to ``GET /v1/models/{name}``, status and body unchanged."""
        path = f"/v1/models/{quote(name, safe='')}" + (f"?{query.decode('latin-1')}" if query else "")
        async with self._upstream.request("GET", path, upstream_headers(ctx, self._forwarded)) as resp:
            data = await resp.read()
        ctx.status = resp.status
        ctx.upstream_request_id = resp.headers.get("request-id")
        ctx.finish()
        await send_bytes(send, resp.status, data, response_headers(ctx, resp))
