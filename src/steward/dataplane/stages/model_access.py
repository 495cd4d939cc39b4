"""Model lists of a workspace (``allowed_models``) and a key (``scopes.models``) as the batch handler checks them.

The request pipelines use ``Authorize`` (stages/authorize.py), which folds these lists into the policy.
"""

from __future__ import annotations

from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.governance.catalog import ModelInfo


def permits(entry: WorkspaceEntry | KeyEntry | None, model: str, info: ModelInfo | None) -> bool:
    """Whether a workspace's or key's model list admits ``model`` (by the name asked, its id or an alias; a model
    the catalog does not list by the name asked only)."""
    if entry is None or entry.allowed_models is None:
        return True
    names = (model,) if info is None else (model, info.id, *info.aliases)
    return any(entry.allows(name) for name in names)
