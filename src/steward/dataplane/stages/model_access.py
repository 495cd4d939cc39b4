"""Model lists of a workspace (``allowed_models``) and a key (``scopes.models``) as the batch handler checks them.

The request pipelines use ``Authorize`` (stages/authorize.py), which folds these lists into the policy.
"""

from __future__ import annotations

from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.governance.catalog import ModelInfo


def permits(entry: WorkspaceEntry | KeyEntry | None, model: str, info: ModelInfo) -> bool:
    """Whether a workspace's or key's model list admits ``model`` (by the name asked, its id or an alias)."""
    if entry is None or entry.allowed_models is None:
        return True
    return any(entry.allows(name) for name in (model, info.id, *info.aliases))
