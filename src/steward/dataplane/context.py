"""Per-request state that the pipeline stages read and write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.errors import StewardError
from steward.governance.pii import PiiRules
from steward.governance.policy import EffectivePolicy
from steward.governance.tokens import estimate_input_tokens
from steward.governance.usage import MeteredResponse


def _unbound() -> None:
    raise RuntimeError("ctx.finish() is bound by Pipeline.run")


@dataclass(slots=True)
class RequestContext:
    """Mutable state of one data-plane request; created per request, never shared."""

    request_id: str
    endpoint: str
    started_at: float
    started_perf: float
    headers: dict[str, str]
    body: bytes = b""
    payload: dict[str, Any] | None = None
    model: str | None = None
    stream: bool = False
    user_id: str | None = None
    tags: dict[str, str] | None = None
    key: KeyEntry | None = None
    workspace: WorkspaceEntry | None = None
    status: int = 0
    error: StewardError | None = None
    metered: MeteredResponse | None = None
    upstream_request_id: str | None = None
    ttft_ms: int | None = None
    client_disconnected: bool = False
    completed: bool = False
    response_started: bool = False          # set by a relay once the 200 is sent: an error must then be an SSE event
    extra: dict[str, Any] = field(default_factory=dict)
    policy: EffectivePolicy | None = None   # set by Authorize: the key's policy, else its workspace's
    policy_version: int = 0
    pii_rules: PiiRules | None = None       # read by Privacy
    client: str = ""                        # the peer address (ASGI scope); no trusted-proxy setting exists
    auth_failure: str | None = None         # set by Authenticate: why no valid key (refusals sampled by Record)
    _input_estimate: int | None = None
    # Bound by Pipeline.run to the request's own pipeline: record now, before the last byte (idempotent).
    finish: Callable[[], None] = _unbound

    def input_estimate(self) -> int:
        """The fast local estimate of the request's input tokens, computed once for every stage that needs it."""
        if self._input_estimate is None:
            self._input_estimate = estimate_input_tokens(self.payload or {})
        return self._input_estimate
