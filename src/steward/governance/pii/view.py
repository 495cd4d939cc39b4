"""The numeric view of a text: the regions around its clusters of digits, joined into one short string.

Every numeric detector (cards, phones, ids, IBANs, IPv4) searches this view instead of the whole text, so a
prompt's prose is never scanned by their regular expressions. Built with ``bytes.translate`` and one
possessive literal-prefix scan; for non-ASCII text, one regex over the text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_SHAPE = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))  # digits -> "0", everything else -> "."
# Digits at most 12 characters apart belong to one cluster ("GB82 WEST 1234", "+44 (0)20"); parts of the view
# are cut this far (margins) around a cluster and then widened to whole tokens.
_REGION_BYTES = re.compile(rb"0(?:\.{0,23}+0){3,}+")  # 23 = the cluster gap (12) + both margins (5 + 6)
_CLUSTER_TEXT = re.compile(r"[0-9](?:[^0-9]{0,12}[0-9]){3,}")
_TOKENS = bytes(97 if chr(b).isascii() and chr(b).isalnum() else 32 for b in range(256))  # alnum -> "a"
_TOKEN = re.compile(r"[0-9A-Za-z]*")
_LEFT_MARGIN = 5   # room for "GB", "+", "AB " or "X-" before the first digit
_RIGHT_MARGIN = 6  # room for " C", "-L" or an IBAN's closing letters after the last digit


def run_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a run of ``pattern`` (a ``[...]*`` class that always matches) starting at ``pos`` ends."""
    match = pattern.match(text, pos)
    return match.end() if match is not None else pos


def _spans(text: str) -> list[list[int]]:
    """[start, end, digits] around every cluster of at least four ASCII digits (no detector needs fewer),
    widened by the margins to whole tokens, merged when they touch."""
    if text.isascii():
        return _ascii_spans(text)
    size = len(text)
    spans: list[list[int]] = []
    for found in _CLUSTER_TEXT.finditer(text):
        left = max(0, found.start() - _LEFT_MARGIN)
        while left > 0 and text[left - 1].isalnum():
            left -= 1
        right = run_end(_TOKEN, text, min(size, found.end() + _RIGHT_MARGIN))
        digits = sum(1 for c in found.group() if "0" <= c <= "9")
        if spans and left <= spans[-1][1]:
            spans[-1][1] = max(right, spans[-1][1])
            spans[-1][2] += digits
        else:
            spans.append([left, right, digits])
    return spans


def _ascii_spans(text: str) -> list[list[int]]:
    # The hot path. Digits whose gap is within gap + both margins end up in one part anyway, so one possessive
    # (never backtracking) scan finds the merged regions directly; parts with fewer than four digits are dropped.
    raw = text.encode("ascii")
    shape = raw.translate(_SHAPE)
    size = len(text)
    tokens = b""
    spans: list[list[int]] = []
    for found in _REGION_BYTES.finditer(shape):
        start, end = found.span()
        digits = shape.count(b"0", start, end)
        if digits < 4:
            continue
        if not tokens:
            tokens = raw.translate(_TOKENS)
        left = tokens.rfind(b" ", 0, max(0, start - _LEFT_MARGIN)) + 1
        right = tokens.find(b" ", min(size, end + _RIGHT_MARGIN))
        right = size if right < 0 else right
        if spans and left <= spans[-1][1]:
            spans[-1][1] = max(right, spans[-1][1])
            spans[-1][2] += digits
        else:
            spans.append([left, right, digits])
    return spans


@dataclass(slots=True, frozen=True)
class NumericView:
    """The parts of a text around its digits, joined by newlines into one short string that the numeric
    detectors search instead of the whole text. Each part starts and ends at a token boundary, so the
    detectors' boundary checks see the same thing as in the original."""

    text: str
    starts: tuple[int, ...]   # where each part starts in ``text``
    origins: tuple[int, ...]  # where each part starts in the original
    max_digits: int           # the most digits any part holds (a cheap gate: cards need 13)

    def origin(self, pos: int) -> int:
        """The original position of ``pos`` in the joined text."""
        part = bisect_right(self.starts, pos) - 1
        return self.origins[part] + pos - self.starts[part]


EMPTY_VIEW = NumericView("", (), (), 0)


def numeric_view(text: str) -> NumericView:
    """The numeric view of a text (EMPTY_VIEW when it has no digits)."""
    spans = _spans(text)
    if not spans:
        return EMPTY_VIEW
    parts = [text[left:right] for left, right, _ in spans]
    starts, position = [], 0
    for part in parts:
        starts.append(position)
        position += len(part) + 1
    return NumericView("\n".join(parts), tuple(starts), tuple(s[0] for s in spans), max(s[2] for s in spans))


