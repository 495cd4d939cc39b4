"""Detectors by name, and the scanner that runs a chosen set of them over a text in one pass.

The registry's order is the priority when two findings overlap (a card number is not also a phone number).
Plug-in detectors register under a built-in name (replacing it) or a new one; ``STEWARD_PII_ENGINE=presidio``
builds a registry whose personal-data detectors are Presidio's (see ``presidio.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from steward.governance.pii.credentials import Secret
from steward.governance.pii.detectors import (
    Detector,
    Email,
    Finding,
    Iban,
    IpAddress,
    NationalId,
    NumericDetector,
    PaymentCard,
    Phone,
)
from steward.governance.pii.view import numeric_view

DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {d.name: d for d in (Secret(), PaymentCard(), Iban(), NationalId(), Email(), Phone(), IpAddress())})
"""The built-in detectors by name, in priority order."""


class Scanner:
    """Runs a fixed list of detectors over texts; the numeric view is built once per text for all of them."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.names = tuple(d.name for d in detectors)
        self._numeric = tuple(d for d in detectors if isinstance(d, NumericDetector))
        self._other = tuple(d for d in detectors if not isinstance(d, NumericDetector))
        self._rank = {name: i for i, name in enumerate(self.names)}

    def scan(self, text: str) -> list[Finding]:
        """Non-overlapping findings in text order."""
        found: list[Finding] = []
        if self._numeric:
            view = numeric_view(text)
            for numeric in self._numeric:
                found.extend(numeric.find_in(text, view))
        for detector in self._other:
            found.extend(detector.find(text))
        if len(found) > 1:
            found = _resolve(found, self._rank)
        return found


def _resolve(found: list[Finding], rank: Mapping[str, int]) -> list[Finding]:
    """Drop findings that overlap one of a detector earlier in the priority order (or an earlier one of its own).

    Kept findings never overlap, so a candidate only needs comparing with its neighbours by start (O(n log n)).
    """
    found.sort(key=lambda f: (rank.get(f.detector, len(rank)), f.start))
    starts: list[int] = []
    kept: list[Finding] = []
    for finding in found:
        i = bisect_right(starts, finding.start)
        if (i and kept[i - 1].end > finding.start) or (i < len(kept) and kept[i].start < finding.end):
            continue
        starts.insert(i, finding.start)
        kept.insert(i, finding)
    return kept


class Registry:
    """Detectors by name (priority order) and a cache of scanners per set of names."""

    def __init__(self, detectors: Iterable[Detector] = DETECTORS.values()) -> None:
        self._detectors: dict[str, Detector] = {}
        self._scanners: dict[tuple[str, ...], Scanner] = {}
        for detector in detectors:
            self.register(detector)

    def register(self, detector: Detector) -> None:
        """Add a detector, or replace the one registered under its name (keeping that one's priority)."""
        self._detectors[detector.name] = detector
        self._scanners.clear()

    def names(self) -> tuple[str, ...]:
        return tuple(self._detectors)

    def get(self, name: str) -> Detector:
        return self._detectors[name]

    def scanner(self, names: Sequence[str]) -> Scanner:
        """A scanner for these detectors (in registry order), built once per set of names."""
        key = tuple(names)
        scanner = self._scanners.get(key)
        if scanner is None:
            scanner = self._scanners[key] = Scanner([self._detectors[n] for n in self._detectors if n in key])
        return scanner


DEFAULT_REGISTRY = Registry()


def scan(text: str, detectors: Iterable[str] | None = None, *, registry: Registry = DEFAULT_REGISTRY) -> list[Finding]:
    """Findings of the named detectors (default: all registered ones) in ``text``, non-overlapping, in order."""
    names = registry.names() if detectors is None else tuple(detectors)
    return registry.scanner(names).scan(text)
