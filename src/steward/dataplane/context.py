"""Per-request state that the pipeline stages read and write: every field typed, each saying who sets it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from steward.dataplane.snapshot import KeyEntry, SpendEntry, WorkspaceEntry
from steward.errors import StewardError
from steward.governance.buckets import Reservation
from steward.governance.budgets import Counter, Lease
from steward.governance.pii import PiiRules
from steward.governance.policy import EffectivePolicy
from steward.governance.pricing import Cost
from steward.governance.tokens import estimate_input_tokens
from steward.governance.usage import MeteredResponse

Header = tuple[bytes, bytes]


@dataclass(slots=True, frozen=True)
class LimitHold:
    """What Limit reserved at admission, released (less the real usage) on completion."""

    reservations: tuple[Reservation, ...]
    limit_types: tuple[str, ...]  # each reservation's kind: requests, input_tokens, output_tokens, tokens


@dataclass(slots=True, frozen=True)
class BudgetHold:
    """What Budget reserved at admission, settled with the real cost on completion."""

    counters: tuple[Counter, ...]        # every spend limit in force (soft ones only count spend)
    hard: tuple[Counter, ...]            # the hard-capped ones, on which ``reserved`` is held
    reserved: int                        # pico-USD held on each hard counter (0 when admitted failing open)
    entries: Mapping[str, SpendEntry]    # counter key -> its spend limit (thresholds, for alerts)
    lease: Lease | None = None           # where the reservation sits (it expires; governance/budgets.Lease)


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
    session_id: str | None = None  # x-claude-code-session-id, once checked (stages/validate.check_headers)
    tags: dict[str, str] | None = None
    key: KeyEntry | None = None
    workspace: WorkspaceEntry | None = None
    status: int = 0
    error: StewardError | None = None
    metered: MeteredResponse | None = None
    upstream_request_id: str | None = None
    forwarded: bool = False  # set by the forwarder once the upstream answered (or timed out): usage, even if it fails
    handled: bool = False    # set by the pipeline when the handler starts (admitted, body read): else never sent on
    ttft_ms: int | None = None
    client_disconnected: bool = False
    completed: bool = False
    response_started: bool = False          # set by a relay once the 200 is sent: an error must then be an SSE event
    policy: EffectivePolicy | None = None   # set by Authorize: the key's policy, else its workspace's
    policy_version: int = 0
    pii_rules: PiiRules | None = None       # read by Privacy
    client: str = ""                        # the peer, or X-Forwarded-For from a trusted proxy (ASGI scope)
    auth_failure: str | None = None         # set by Authenticate: why no valid key (refusals sampled by Record)
    # Admission (stages in order): Authorize, Privacy, BatchPolicy
    policy_rule: str | None = None          # the rule that refused the request (Authorize or Privacy)
    shadow: list[str] | None = None         # shadow-mode rules that would have acted (Authorize, then Privacy)
    pii: dict[str, int] | None = None       # PII found, counts per detector, never the text (Privacy)
    alias: dict[str, str] | None = None     # a scope pinned the model: {"requested", "pinned"} (Authorize)
    response_headers: list[Header] | None = None    # extra headers for the client, e.g. x-steward-warning (Authorize)
    limit_hold: LimitHold | None = None     # Limit's reservation
    ratelimit_headers: list[Header] | None = None   # Steward's anthropic-ratelimit-* headers (Limit)
    budget_hold: BudgetHold | None = None   # Budget's reservation
    capture: list[bytes] | None = None      # full audit: the response bytes, appended by the relay (Capture)
    # Handling and completion
    file_id: str | None = None              # the Files API file a request named or created (files_routes)
    upstream_cut: str | None = None         # why the upstream broke a stream or download after its 200
    cost: Cost | None = None                # the priced cost (Meter); None when unpriced or not metered
    unpriced: bool = False                  # no catalog price applied: cost 0 is unknown, not free (Meter)
    budget_cost: Cost | None = None         # an unpriced model's cost at the catalog's highest rates (Meter)
    content_sha256: str | None = None       # the hash of the sealed content (Capture)
    _input_estimate: int | None = None
    # Bound by Pipeline.run to the request's own pipeline: record now, before the last byte (idempotent).
    finish: Callable[[], None] = _unbound

    def input_estimate(self) -> int:
        """The fast local estimate of the request's input tokens, computed once for every stage that needs it."""
        if self._input_estimate is None:
            self._input_estimate = estimate_input_tokens(self.payload or {})
        return self._input_estimate
