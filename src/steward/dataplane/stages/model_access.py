"""Model access: the requested model must be in the pricing catalog and allowed for the workspace.

Reads ``ctx.model`` and ``ctx.workspace``; raises NotFoundError (unknown model, as the API does) or
PermissionDeniedError (known but not allowed). Cost: two dict lookups and, with patterns, a few matches.
"""

from __future__ import annotations

from steward.dataplane.context import RequestContext
from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.errors import NotFoundError, PermissionDeniedError
from steward.governance.catalog import Catalog, ModelInfo


def permits(entry: WorkspaceEntry | KeyEntry | None, model: str, info: ModelInfo) -> bool:
    """Whether a workspace's or key's model list admits ``model`` (by the name asked, its id or an alias)."""
    if entry is None or entry.allowed_models is None:
        return True
    return any(entry.allows(name) for name in (model, info.id, *info.aliases))


class ModelAccess:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def on_request(self, ctx: RequestContext) -> None:
        model = ctx.model or ""
        info = self._catalog.resolve(model)
        if info is None:
            raise NotFoundError(f"model: {model}")
        workspace = ctx.workspace
        if workspace is not None and not permits(workspace, model, info):
            raise PermissionDeniedError(
                f"model: {model} is not allowed in workspace {workspace.name!r} "
                f"(allowed: {', '.join(workspace.allowed_models or ())}).")
        key = ctx.key
        if key is not None and not permits(key, model, info):
            raise PermissionDeniedError(
                f"model: {model} is outside this API key's scope (allowed: {', '.join(key.allowed_models or ())}).")

    def on_complete(self, ctx: RequestContext) -> None:
        return None
