"""Every setting Steward reads, in one place (environment prefix ``STEWARD_``).

Nothing else reads the environment; everything else receives what it needs as arguments.
Secrets (upstream keys) are ``SecretStr`` so they never print in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    """Steward's configuration."""

    model_config = SettingsConfigDict(env_prefix="STEWARD_", extra="ignore")

    home: Path = Field(default_factory=_default_home,
                       description="Directory for the SQLite database and the journal.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default is a SQLite file in `home` (WAL mode). "
                    "PostgreSQL: postgresql+asyncpg://host/db.")

    redis_url: str | None = Field(
        default=None, description="Redis URL (redis://host:port/db) for rate limits shared by several processes or "
                                  "instances; without it limits are kept in process.")
    redis_key_prefix: str = Field(default="stw:", description="Prefix of every Redis key Steward writes.")
    rate_limit_max_wait: float = Field(
        default=0.0, description="Seconds a request may wait for rate-limit capacity before a 429 (0 to 60); a "
                                 "request can ask for its own with the x-steward-max-wait header.")
    rate_limit_fail_open: bool = Field(
        default=False, description="When Redis is unreachable: admit requests (true) or refuse them (false).")
    upstream_url: str = Field(default="https://api.anthropic.com",
                              description="Base URL of the Anthropic API (or the simulator).")
    upstream_api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Real Anthropic API key(s); used round-robin. Never returned or logged.")
    upstream_connect_timeout: float = Field(default=10.0, description="Seconds to connect upstream.")
    upstream_read_timeout: float = Field(default=600.0,
                                         description="Seconds to wait for upstream bytes.")
    upstream_pool_size: int = Field(default=256, description="Max pooled upstream connections.")
    forward_request_headers: list[str] = Field(
        default_factory=lambda: ["anthropic-version", "anthropic-beta"],
        description="Client request headers passed to the upstream (lower-case names; never auth headers).")

    max_body_bytes: int = Field(default=32 * 1024 * 1024,
                                description="Largest accepted request body (Messages).")
    max_batch_body_bytes: int = Field(default=256 * 1024 * 1024,
                                      description="Largest accepted Message Batches body.")
    max_file_bytes: int = Field(default=500 * 1024 * 1024, gt=0,
                                description="Largest file accepted by the Files API upload (the API's 500 MB); "
                                            "refused with 413 from Content-Length, or while streaming.")

    # The door of each worker (serving_guard.py, dataplane/http.read_body, controlplane/api/door.py).
    header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a client has to send a request's headers (from connecting, or from "
                                        "the first byte of a later request on the connection); then 408 and close.")
    max_header_bytes: int = Field(
        default=1024 * 1024, ge=16 * 1024, description="Largest request line and headers of one request, in bytes; "
                                                       "beyond it 431 and close (memory per connection before "
                                                       "authentication is bounded by it).")
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a client may pause between two parts of a request body; then 408.")
    keep_alive_timeout: float = Field(
        default=75.0, gt=0, description="Seconds an idle keep-alive connection stays open.")
    max_connections: int | None = Field(
        default=None, ge=1, description="Connections one worker holds at most; beyond it a new connection gets 503 "
                                        "`overloaded_error` and is closed. Default: the process's open-file limit "
                                        "(raised to its hard limit at start) less the upstream pool and 64 spare.")
    forwarded_allow_ips: str | None = Field(
        default=None, description="Comma-separated addresses (or networks) of the reverse proxies in front of "
                                  "Steward whose X-Forwarded-For header names the client: audit events and the "
                                  "per-address limit then use the client's address. Unset: the TCP peer.")
    unauthenticated_per_minute: int = Field(
        default=600, ge=0, description="Data-plane requests without a valid key one source address may make per "
                                       "minute (each answered 401); beyond it they get 429 with retry-after and the "
                                       "connection is closed. Requests with a valid key are never counted. 0: off.")
    spend_lease_seconds: float = Field(
        default=3600.0, gt=0, description="Seconds a real-time request's spend-cap reservation is held at most: "
                                          "a process killed mid-request cannot block a cap for longer. Longer "
                                          "than the longest request you serve (long streams with thinking).")
    max_admin_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest accepted Admin API, Compliance API or console request body.")

    startup_database_wait: float = Field(
        default=60.0, ge=0, description="Seconds a starting process (steward serve, each worker) retries a "
                                        "database that does not answer (not up yet at boot, an outage, a "
                                        "failover) before it gives up: a worker replaced during an outage waits "
                                        "for it instead of failing, which would stop every worker.")
    snapshot_poll_interval: float = Field(
        default=0.25, description="Seconds between checks of the config version (revocation bound).")
    key_last_used_flush_interval: float = Field(
        default=30.0, description="Seconds between flushes of keys' last-used times.")

    journal_dir: Path | None = Field(default=None,
                                     description="Journal directory; default `home`/journal.")
    journal_fsync: bool = Field(default=False,
                                description="fsync each journal write (survives power loss).")
    journal_ship_inline: bool = Field(
        default=True,
        description="Ship the journal from the serving process. `steward serve` sets this to false and runs "
                    "one `steward ship` process beside its workers instead. Inline shipping shares the worker's "
                    "interpreter: on one saturated core it falls behind (measured: a third of the requests shipped "
                    "after 100 s), so keep it for the embedded set-ups and tests.")
    journal_ship_interval: float = Field(default=0.2,
                                         description="Seconds between journal shipping rounds.")
    journal_batch_size: int = Field(default=2000, description="Records per database insert.")
    journal_max_lag: float = Field(
        default=60.0, gt=0, description="Seconds the oldest unshipped journal record may wait before `/readyz` "
                                        "answers 503 (ship_lag).")
    journal_shipper_timeout: float = Field(
        default=15.0, gt=0, description="Seconds without a report from the journal shipper (its status file, "
                                        "rewritten every second) before `/readyz` answers 503 (shipper).")

    batch_meter_interval: float = Field(default=5.0,
                                        description="Seconds between polls of unfinished batches.")

    key_name_pattern: str = Field(
        default=r"^[a-z0-9]+(-[a-z0-9]+){2,}$",
        description="Regular expression API key names must match; the default is the seed's "
                    "{team}-{environment}-{purpose}, e.g. ml-prod-inference.")
    key_rotation_grace_seconds: int = Field(
        default=3600, description="Default time the old secret keeps working after a key rotation.")
    invitation_expiry_days: int = Field(default=7, description="Default lifetime of an invitation, in days.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info",
                                                                    description="Log level.")
    access_log: bool = Field(
        default=True, description="One line per HTTP request on the `steward.access` logger (method, path, status, "
                                  "latency, request id, workspace and key ids; never a key, header, query string "
                                  "or body). Written at INFO: a `log_level` above info turns it off too.")
    webhook_allow_private: bool = Field(
        default=False, description="Let webhooks reach loopback, private and link-local addresses (a receiver "
                                   "inside your network); by default they are refused when saved and when "
                                   "connected to.")
    public_url: str | None = Field(
        default=None, description="The URL clients reach Steward at (e.g. `https://steward.example.com`): the base "
                                  "of links Steward hands out, such as a batch's `results_url` and `steward console "
                                  "link`'s. Unset: the Host header of each request (console links: the address "
                                  "`steward serve` serves on).")
    host: str = Field(default="127.0.0.1", description="Address `steward serve` binds.")
    port: int = Field(default=8080, description="Port `steward serve` binds.")

    # The web console (/console).
    console_secret: SecretStr | None = Field(
        default=None, description="Key that signs console session cookies and CSRF tokens; by default a random "
                                  "key kept in `home`/console.secret (shared by the workers of one machine).")
    console_session_hours: float = Field(
        default=12.0, gt=0, description="Lifetime of a console session, in hours (then sign in again).")
    console_link_minutes: int = Field(
        default=30, ge=1, description="Lifetime of a one-time console sign-in link, in minutes.")

    # Compliance: encrypted content capture (audit_level "full") and retention.
    master_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes: the master key that wraps each organization's data "
                                  "key for stored content. Without it a key is generated once into "
                                  "`home`/master.key (mode 0600); production must set it and keep it safe.")
    retention_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between retention runs that purge stored content past its "
                                          "group's data_retention_days (never under a legal hold).")

    # The tamper-evident audit trail (hash chains, signed checkpoints).
    audit_signing_key: SecretStr | None = Field(
        default=None, description="Base64 of a 32-byte Ed25519 seed that signs audit chain checkpoints. Without it "
                                  "a key is generated once into `home`/audit_signing_key (mode 0600); production "
                                  "must set it (and keep it away from the database's administrators).")
    audit_trusted_public_keys: list[str] = Field(
        default_factory=list, description="Base64 raw Ed25519 public keys of earlier signing keys whose "
                                          "checkpoints still verify (after a key rotation).")
    audit_seal_interval: float = Field(
        default=1.0, gt=0, description="Seconds between rounds that seal newly shipped audit events into the chains.")
    audit_checkpoint_interval: float = Field(
        default=60.0, gt=0, description="Seconds between signed checkpoints of a chain head that moved; events "
                                        "after the last checkpoint are protected by the chain only.")

    # Data handling: PII detection (policy "pii" rules).
    pii_engine: Literal["builtin", "presidio"] = Field(
        default="builtin", description="PII detectors: `builtin` (regular expressions with checksums, microseconds "
                                       "per request) or `presidio` (Microsoft Presidio for personal data, "
                                       "milliseconds; needs `pip install 'steward[presidio]'` and a spaCy model; "
                                       "the secret detector stays built in).")

    # Model catalog (docs/catalog.md).
    unknown_models: Literal["forward", "refuse"] = Field(
        default="forward", description="A model id the catalog does not list (once policies admit it): `forward` "
                                       "sends it upstream (the API decides whether it exists), priced by its "
                                       "family's newest price or recorded as unpriced; `refuse` answers 404 until "
                                       "`steward catalog sync` or `import` adds it.")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'steward.db'}"

    def resolved_max_connections(self) -> int:
        """``max_connections``, or what the open-file limit leaves after the upstream pool and some spare."""
        if self.max_connections is not None:
            return self.max_connections
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(16, soft - self.upstream_pool_size - 64)

    def resolved_journal_dir(self) -> Path:
        """The journal directory."""
        return self.journal_dir or self.home / "journal"
