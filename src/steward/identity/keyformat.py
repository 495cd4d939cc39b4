"""API key format: a recognizable prefix, a random secret and a CRC32 checksum.

``sk-stw-api01-<40 base62 secret><6 base62 checksum>``. The prefix lets secret scanners find leaked keys;
the checksum lets the gateway refuse a mistyped key without a lookup. Keys are stored as SHA-256 hashes:
they carry 238 bits of entropy, so a slow password hash would add cost and no safety.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from dataclasses import dataclass

from steward.ids import BASE62_ALPHABET, base62

API_KEY_PREFIX = "sk-stw-api01-"
ADMIN_KEY_PREFIX = "sk-stw-admin01-"
_SECRET_LEN = 40
_CHECK_LEN = 6


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), _CHECK_LEN)


@dataclass(slots=True, frozen=True)
class NewKey:
    """A freshly minted key: the secret (shown once), its hash and a display hint."""

    secret: str
    key_hash: str
    hint: str


def hash_key(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def partial_hint(secret: str) -> str:
    """A hint safe to show: prefix, three characters, an ellipsis and the last four."""
    head = secret[: secret.index("-", 7) + 1] if secret.startswith("sk-") else ""
    rest = secret[len(head):]
    return f"{head}{rest[:3]}...{secret[-4:]}"


def mint(prefix: str = API_KEY_PREFIX) -> NewKey:
    """A new random key with checksum."""
    body = prefix + "".join(secrets.choice(BASE62_ALPHABET) for _ in range(_SECRET_LEN))
    secret = body + _checksum(body)
    return NewKey(secret=secret, key_hash=hash_key(secret), hint=partial_hint(secret))


def well_formed(secret: str, prefix: str = API_KEY_PREFIX) -> bool:
    """Prefix, length and checksum are right (no lookup needed to refuse a typo)."""
    if len(secret) != len(prefix) + _SECRET_LEN + _CHECK_LEN or not secret.startswith(prefix):
        return False
    body, check = secret[:-_CHECK_LEN], secret[-_CHECK_LEN:]
    return _checksum(body) == check
