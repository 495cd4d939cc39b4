"""Identifier generation: Anthropic-style prefixed ids that sort by creation time.

An id is ``<prefix>_01`` followed by 8 base62 characters of milliseconds and 14 random base62 characters,
so ids created later compare greater (useful for cursor pagination). Ids are identifiers, not secrets
(secrets come from ``secrets``): the random part uses the fast PRNG, because the hot path makes two ids
per request and ``os.urandom`` is a system call.
"""

from __future__ import annotations

import random
import time

BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(value: int, width: int) -> str:
    """``value`` in ``width`` base62 digits (most significant first)."""
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(BASE62_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new time-ordered id such as ``req_01...``."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_01{base62(millis, 8)}{''.join(random.choices(BASE62_ALPHABET, k=14))}"


def request_id() -> str:
    """A new ``req_`` id for the ``request-id`` header and the error envelope."""
    return new_id("req")
