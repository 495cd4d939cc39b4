"""Identifier generation: Anthropic-style prefixed ids that sort by creation time.

An id is ``<prefix>_01`` followed by 8 base62 characters of milliseconds and 14 random base62 characters,
so ids created later compare greater (useful for cursor pagination). Ids are identifiers, not secrets
(secrets come from ``secrets``): the random part uses the fast PRNG, because the hot path makes two ids
per request and ``os.urandom`` is a system call. Its 14 characters are 14 random bytes mapped onto the alphabet
(``bytes.translate``, in C): the mapping favours the first 8 characters slightly (5 of 256 values each instead of
4), about 5.9 bits per character, 82 in all: ample for uniqueness within a millisecond.
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


_RANDOM_CHARS = bytes(ord(BASE62_ALPHABET[i % 62]) for i in range(256))
_clock: list[int | str] = [-1, ""]  # the last millisecond and its 8 characters (two ids per request share it)


def new_id(prefix: str) -> str:
    """A new time-ordered id such as ``req_01...``."""
    millis = time.time_ns() // 1_000_000
    if _clock[0] != millis:
        _clock[:] = [millis, base62(millis, 8)]
    return f"{prefix}_01{_clock[1]}{random.randbytes(14).translate(_RANDOM_CHARS).decode()}"


def request_id() -> str:
    """A new ``req_`` id for the ``request-id`` header and the error envelope."""
    return new_id("req")
