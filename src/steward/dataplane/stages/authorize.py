"""Authorize: the model must not be retired, and the key's (or workspace's) policy must admit the request.

A model the catalog does not list follows ``STEWARD_UNKNOWN_MODELS`` (docs/catalog.md): ``forward`` lets the
policy decide on its name and the upstream on its existence; ``refuse`` answers 404 naming the setting.
Reads ``ctx.key``, ``ctx.workspace``, ``ctx.model``, ``ctx.payload`` and the snapshot's catalog; writes
``ctx.policy``, ``ctx.policy_version``, ``ctx.pii_rules``, ``ctx.policy_rule`` (the refusing rule) and
``ctx.shadow`` (rules that would have refused); rewrites ``ctx.body`` only when a scope pins an alias.
Raises NotFoundError (retired model, or unknown under ``refuse``), PermissionDeniedError (forbidden model,
feature or region) or InvalidRequestError (a missing requirement or an exceeded cap). Cost: a dict lookup and
``policy.evaluate`` (precompiled patterns; see bench/policy_bench.py).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from steward.dataplane.context import RequestContext
from steward.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.governance.catalog import Catalog, ModelInfo
from steward.governance.policy import EffectivePolicy, evaluate, resolve_model

WARNING_HEADER = b"x-steward-warning"


def retired_error(requested: str, info: ModelInfo) -> NotFoundError:
    """The API's answer for a retired model (404), naming the date and the replacement."""
    when = f" on {info.retires_at.isoformat()}" if info.retires_at else ""
    instead = f"; use {info.replacement} instead" if info.replacement else ""
    return NotFoundError(f"model: {requested} was retired{when}{instead}")


def unlisted_error(requested: str) -> NotFoundError:
    return NotFoundError(f"model: {requested} is not in Steward's model catalog and STEWARD_UNKNOWN_MODELS=refuse; "
                         "an operator can add it with `steward catalog sync` (from the API's model list) or "
                         "`steward catalog import FILE`")


class Authorize:
    def __init__(self, catalog: Callable[[], Catalog], *, unknown_models: str = "forward",
                 models_only: bool = False) -> None:
        self._catalog = catalog  # the catalog in force (the snapshot's)
        self._forward_unknown = unknown_models == "forward"
        self._models_only = models_only  # count_tokens: no output, so only the model rules apply

    def on_request(self, ctx: RequestContext) -> None:
        key, workspace = ctx.key, ctx.workspace
        policy = key.policy if key is not None and key.policy is not None else \
            workspace.policy if workspace is not None else None
        requested = ctx.model or ""
        pinned, info = resolve_model(policy, self._catalog(), requested)
        if info is not None and info.status == "retired":
            raise retired_error(requested, info)
        if policy is not None:
            self._apply(ctx, policy, requested, pinned, info)
        # After the policy, so that a model a policy refuses is refused by its rule, not by this setting.
        if info is None and not self._forward_unknown:
            raise unlisted_error(requested)

    def _apply(self, ctx: RequestContext, policy: EffectivePolicy, requested: str, pinned: str,
               info: ModelInfo | None) -> None:
        ctx.policy, ctx.policy_version, ctx.pii_rules = policy, policy.version, policy.pii_rules
        payload = ctx.payload or {}
        tokens = ctx.input_estimate() if policy.needs_input_tokens and not self._models_only else 0
        decisions = evaluate(policy, payload, model_info=info, input_tokens=tokens, models_only=self._models_only)
        shadow = [d.rule for d in decisions if d.action == "shadow"]
        if shadow:
            ctx.shadow = shadow
        refusal = next((d for d in decisions if d.action == "refuse"), None)
        if refusal is not None:
            ctx.policy_rule = refusal.rule
            raise (PermissionDeniedError if refusal.status == 403 else InvalidRequestError)(refusal.message)
        if pinned != requested:
            payload["model"] = pinned
            ctx.model = pinned
            ctx.body = orjson.dumps(payload)
            ctx.alias = {"requested": requested, "pinned": pinned}
        if info is not None and info.status == "deprecated" and policy.deprecated == "warn":
            when = f" and retires on {info.retires_at.isoformat()}" if info.retires_at else ""
            instead = f"; use {info.replacement} instead" if info.replacement else ""
            message = f"models.deprecated: {info.id} is deprecated{when}{instead}"
            ctx.response_headers = [*(ctx.response_headers or ()), (WARNING_HEADER, message.encode())]

    def on_complete(self, ctx: RequestContext) -> None:
        return None
