"""Envelope encryption for stored content: AES-256-GCM with per-organization data keys wrapped by a master key.

The master key comes from ``STEWARD_MASTER_KEY`` (base64 of 32 bytes). Without it, the embedded setup generates
one once into ``home/master.key`` (mode 0600) and logs the path, never the key; production must set the
setting (and keep it: content sealed under a lost master key cannot be read). Data keys are random 32 bytes,
stored only wrapped; content is sealed with a random 96-bit nonce and ``org_id|request_id`` as associated
data, so a ciphertext moved to another request or organization fails to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from steward.settings import Settings

log = logging.getLogger("steward.crypto")
KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_CONTEXT = b"steward-data-key|"


class CryptoError(ValueError):
    """A key of the wrong shape, or a ciphertext that does not open (wrong key, wrong context, tampered)."""


@dataclass(slots=True, frozen=True)
class MasterKey:
    """The key-encryption key; ``fingerprint`` identifies it in ``org_data_keys`` without revealing it."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise CryptoError(f"the master key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(b"steward-master-key-id|" + self.key).hexdigest()[:32]

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("STEWARD_MASTER_KEY is not valid base64") from exc
        return cls(raw)


def generate_key_text() -> str:
    """A new master key as base64 (``steward compliance master-key`` prints one)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def load_master_key(configured: str | None, home: Path) -> MasterKey:
    """The configured master key, or the embedded default in ``home/master.key`` (created once, mode 0600)."""
    if configured:
        return MasterKey.from_base64(configured)
    path = home / "master.key"
    try:
        return MasterKey.from_base64(path.read_text())
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    text = generate_key_text()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return MasterKey.from_base64(path.read_text())
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    log.warning("generated a master key for stored content at %s; production must set STEWARD_MASTER_KEY", path)
    return MasterKey.from_base64(text)


def master_key_source(settings: Settings) -> Callable[[], MasterKey]:
    """A function returning the master key, loaded (or generated) on first use only: most commands never need it."""
    loaded: list[MasterKey] = []

    def get() -> MasterKey:
        if not loaded:
            configured = settings.master_key.get_secret_value() if settings.master_key else None
            loaded.append(load_master_key(configured, settings.home))
        return loaded[0]
    return get


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(master: MasterKey, data_key: bytes, org_id: str) -> bytes:
    """``nonce || AES-GCM(master, data_key)``, bound to the organization."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master.key).encrypt(nonce, data_key, _WRAP_CONTEXT + org_id.encode())


def unwrap(master: MasterKey, wrapped: bytes, org_id: str) -> bytes:
    try:
        return AESGCM(master.key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                          _WRAP_CONTEXT + org_id.encode())
    except InvalidTag as exc:
        raise CryptoError(f"the data key of {org_id} does not open with this master key") from exc


def _context(org_id: str, request_id: str) -> bytes:
    return f"{org_id}|{request_id}".encode()


def seal(data_key: bytes, org_id: str, request_id: str, plaintext: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of one request's content."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(data_key).encrypt(nonce, plaintext, _context(org_id, request_id))


def open_sealed(data_key: bytes, org_id: str, request_id: str, nonce: bytes, ciphertext: bytes) -> bytes:
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, _context(org_id, request_id))
    except InvalidTag as exc:
        raise CryptoError(f"stored content of {request_id} does not open (wrong key or tampered)") from exc


SEALED_PREFIX = "sealed:v1:"
_SECRET_CONTEXT = b"steward-secret|"


def seal_secret(master: MasterKey, owner: str, secret: str) -> str:
    """A secret Steward must use again (a webhook's signing secret) as stored text: ``sealed:v1:`` and base64 of
    ``nonce || AES-GCM(master, secret)``, bound to ``owner`` (the webhook id) so it cannot be moved to another."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(master.key).encrypt(nonce, secret.encode(), _SECRET_CONTEXT + owner.encode())
    return SEALED_PREFIX + base64.b64encode(sealed).decode()


def open_secret(master: MasterKey, owner: str, stored: str) -> str:
    """The secret behind ``seal_secret``'s text (text stored before secrets were sealed is returned as is)."""
    if not stored.startswith(SEALED_PREFIX):
        return stored
    raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX))
    try:
        return AESGCM(master.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                          _SECRET_CONTEXT + owner.encode()).decode()
    except InvalidTag as exc:
        raise CryptoError(f"the stored secret of {owner} does not open with this master key") from exc
