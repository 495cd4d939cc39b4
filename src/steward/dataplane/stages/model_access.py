"""Model access: the requested model must be in the pricing catalog and allowed for the workspace.

Reads ``ctx.model`` and ``ctx.workspace``; raises NotFoundError (unknown model, as the API does) or
PermissionDeniedError (known but not allowed). Cost: two dict lookups and, with patterns, a few matches.
"""

from __future__ import annotations

from steward.dataplane.context import RequestContext
from steward.errors import NotFoundError, PermissionDeniedError
from steward.governance.catalog import Catalog


class ModelAccess:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def on_request(self, ctx: RequestContext) -> None:
        model = ctx.model or ""
        info = self._catalog.resolve(model)
        if info is None:
            raise NotFoundError(f"model: {model}")
        workspace = ctx.workspace
        if workspace is not None and not (workspace.allows(model) or workspace.allows(info.id)):
            raise PermissionDeniedError(
                f"model: {model} is not allowed in workspace {workspace.name!r} "
                f"(allowed: {', '.join(workspace.allowed_models or ())}).")

    def on_complete(self, ctx: RequestContext) -> None:
        return None
