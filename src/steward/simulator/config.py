"""The simulator's settings: one immutable value handed to ``create_app``.

It owns defaults only; it reads no environment and holds no state.
"""

from __future__ import annotations

from dataclasses import dataclass

FAULTS = frozenset({"429", "529", "500", "slow", "cut"})


@dataclass(slots=True, frozen=True)
class SimulatorConfig:
    """How the simulated upstream behaves. Every latency defaults to zero (benchmark upstream)."""

    ttft_ms: float = 0.0
    """Delay before the first byte (JSON) or the first SSE event (streaming)."""
    tokens_per_second: float = 0.0
    """Output pacing; 0 means unlimited (no sleeping between deltas)."""
    default_output_tokens: int = 48
    """Text output length when the ``x-sim-output-tokens`` header does not decide it."""
    default_thinking_tokens: int = 32
    """Length of a thinking block when ``x-sim-thinking-tokens`` does not decide it."""
    batch_processing_seconds: float = 0.5
    """A Message Batch ends this long after creation."""
    batch_cancel_seconds: float = 0.1
    """A canceled batch stays ``canceling`` this long, then ends."""
    fault: str | None = None
    """Fault applied to every ``/v1`` request: "429", "529", "500", "slow" or "cut"."""
    slow_delay_ms: float = 2000.0
    """Delay added by the ``slow`` fault unless ``x-sim-delay-ms`` says otherwise."""
    cut_after_deltas: int = 3
    """The ``cut`` fault closes a stream after this many ``content_block_delta`` events."""
    retry_after_seconds: int = 1
    """``retry-after`` sent with a simulated 429."""
    api_key: str | None = None
    """If set, ``/v1`` requests must carry it (``x-api-key`` or ``Authorization: Bearer``)."""
    require_version_header: bool = True
    """Answer 400 when ``anthropic-version`` is missing, as the real API does."""
    cache_min_tokens: int = 1024
    """Smallest cacheable prompt prefix, in tokens."""
    cache_max_entries: int = 10_000
    """Prompt-cache entries kept (least recently used are dropped first)."""
    tokens_per_delta: int = 3
    """Output tokens carried by one streamed ``content_block_delta``."""
    history_size: int = 200
    """Requests remembered for ``GET /_sim/requests``."""
    organization_id: str = "5f4bd1e8-3f53-4f6a-9d4a-6f1d2b7c9e10"
    """Value of the ``anthropic-organization-id`` response header."""
    ratelimit_requests: int = 4_000
    ratelimit_input_tokens: int = 2_000_000
    ratelimit_output_tokens: int = 400_000
    extra_models: tuple[str, ...] = ()
    """Model ids served in addition to the built-in catalog (a model Steward's catalog does not know yet)."""

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {sorted(FAULTS)}")
        if self.tokens_per_delta < 1:
            raise ValueError("tokens_per_delta must be at least 1")
