"""The ``secret`` detector: API keys, cloud credentials, private keys and JWTs.

Every pattern starts with a fixed marker (``sk-``, ``AKIA``, ``ghp_``, ``eyJ``...) and runs only when that
marker occurs in the text (a C-speed substring test), so prose without credentials costs a few memchr-like
scans. JWTs are confirmed by decoding the header; AWS secret keys are looked for only near the word "aws".
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator

import orjson

from steward.governance.pii.detectors import Finding
from steward.governance.pii.view import run_end


def _mixed(text: str) -> bool:
    """A generated key has letters and digits; a hyphenated phrase ("sk-long-winded-words") has no digits."""
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _jwt(text: str) -> bool:
    header = text.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _aws_secret(text: str) -> bool:
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def _always(text: str) -> bool:
    return True


# (a cheap test that the marker occurs in the text, pattern, confirmation of a match)
_PATTERNS: tuple[tuple[Callable[[str], bool], re.Pattern[str], Callable[[str], bool]], ...] = (
    # Anthropic (sk-ant-...), Steward (sk-stw-...), OpenAI (sk-..., sk-proj-...).
    (lambda t: "sk-" in t, re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"), _mixed),
    (lambda t: "AKIA" in t or "ASIA" in t,
     re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"), _always),
    (lambda t: "_" in t and "gh" in t,
     re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"), _always),
    (lambda t: "xox" in t, re.compile(r"(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,}"), _mixed),
    (lambda t: "AIza" in t, re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), _always),
    (lambda t: "eyJ" in t,
     re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), _jwt),
)
# Every credential but a PEM block is one token of at least 20 characters: a text without such a token
# (most prose) skips every pattern after one translate and one substring search.
_TOKENISH = bytes(97 if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-+/=.") else 32 for b in range(256))
_LONG_TOKEN = b"a" * 20


def _has_long_token(text: str) -> bool:
    return not text.isascii() or _LONG_TOKEN in text.encode("ascii").translate(_TOKENISH)


_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----")
_PEM_MAX = 20_000  # the longest private key block looked for (an RSA-8192 key is about 6,400 characters)
_AWS_WORD = re.compile(r"aws", re.IGNORECASE)
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_TAIL = re.compile(r"[A-Za-z0-9/+=]*")
_AWS_NEAR = 200


class Secret:
    """Credentials: provider API keys (Anthropic, Steward, OpenAI, GitHub, Slack, Google), AWS keys, PEM private
    keys, and JWTs whose header decodes to JSON with ``alg``."""

    name = "secret"

    def find(self, text: str) -> Iterator[Finding]:
        if "-----BEGIN" in text:
            yield from self._pem_blocks(text)
        if not _has_long_token(text):
            return
        for present, pattern, confirm in _PATTERNS:
            if present(text):
                yield from self._search(text, pattern, confirm)
        if "aws" in text or "AWS" in text or "Aws" in text:
            yield from self._aws_secrets(text)

    def _search(self, text: str, pattern: re.Pattern[str], confirm: Callable[[str], bool]) -> Iterator[Finding]:
        for match in pattern.finditer(text):
            if confirm(match.group()):
                yield Finding(self.name, match.start(), match.end())

    def _pem_blocks(self, text: str) -> Iterator[Finding]:
        """The whole block when its END line follows (found with a substring search), else the header alone."""
        for header in _PEM_BEGIN.finditer(text):
            footer = f"-----END {header.group(1)}PRIVATE KEY-----"
            end = text.find(footer, header.end(), header.end() + _PEM_MAX)
            yield Finding(self.name, header.start(), header.end() if end < 0 else end + len(footer))

    def _aws_secrets(self, text: str) -> Iterator[Finding]:
        windows: list[tuple[int, int]] = []
        for word in _AWS_WORD.finditer(text):
            start = max(0, word.start() - _AWS_NEAR)
            end = run_end(_AWS_TAIL, text, min(len(text), word.end() + _AWS_NEAR))
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
        for start, end in windows:
            for match in _AWS_SECRET.finditer(text, start, end):
                if _aws_secret(match.group()):
                    yield Finding(self.name, match.start(), match.end())
