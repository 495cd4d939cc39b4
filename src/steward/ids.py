"""Identifier generation: Anthropic-style prefixed ids that sort by creation time.

An id is ``<prefix>_01`` followed by 22 base62 characters: 48 bits of milliseconds then random bits,
so ids created later compare greater (useful for cursor pagination) and are never guessable.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new time-ordered id such as ``req_01...``."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | rand
    return f"{prefix}_01{_base62(value, 22)}"


def request_id() -> str:
    """A new ``req_`` id for the ``request-id`` header and the error envelope."""
    return new_id("req")
