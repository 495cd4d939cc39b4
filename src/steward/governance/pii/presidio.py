"""Optional Presidio-backed detectors (``STEWARD_PII_ENGINE=presidio``), imported only when asked for.

Presidio (``pip install 'steward[presidio]'`` plus a spaCy model) replaces the built-in personal-data
detectors; ``secret`` stays built in (Presidio has no credential recognizers). Presidio runs an NLP pipeline,
so expect milliseconds per request instead of microseconds.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

from steward.governance.pii.detectors import Finding
from steward.governance.pii.registry import DEFAULT_REGISTRY, Registry

ENGINES = ("builtin", "presidio")

# Steward detector -> Presidio entity types.
ENTITIES: dict[str, tuple[str, ...]] = {
    "email": ("EMAIL_ADDRESS",),
    "phone": ("PHONE_NUMBER",),
    "payment_card": ("CREDIT_CARD",),
    "national_id": ("US_SSN", "UK_NHS", "ES_NIF", "ES_NIE", "IT_FISCAL_CODE", "SG_NRIC_FIN", "AU_TFN", "IN_AADHAAR"),
    "iban": ("IBAN_CODE",),
    "ip_address": ("IP_ADDRESS",),
}


class PiiEngineUnavailable(RuntimeError):
    """The configured PII engine cannot be loaded (raised at start-up, never per request)."""


def load_analyzer() -> Any:
    """A Presidio ``AnalyzerEngine``; PiiEngineUnavailable with the fix when Presidio is not installed."""
    try:
        module = importlib.import_module("presidio_analyzer")
    except ImportError as exc:
        raise PiiEngineUnavailable(
            "STEWARD_PII_ENGINE=presidio needs the presidio-analyzer package: pip install 'steward[presidio]' "
            "and a spaCy model (python -m spacy download en_core_web_lg), or set STEWARD_PII_ENGINE=builtin."
        ) from exc
    return module.AnalyzerEngine()


class PresidioDetector:
    """One Steward detector answered by Presidio entity types (findings at or above ``threshold``)."""

    def __init__(self, name: str, entities: Sequence[str], analyzer: Any, *, language: str = "en",
                 threshold: float = 0.5) -> None:
        self._name = name
        self._entities = list(entities)
        self._analyzer = analyzer
        self._language = language
        self._threshold = threshold

    @property
    def name(self) -> str:
        return self._name

    def find(self, text: str) -> Iterator[Finding]:
        for result in self._analyzer.analyze(text=text, entities=self._entities, language=self._language):
            if result.score >= self._threshold:
                yield Finding(self._name, int(result.start), int(result.end))


def presidio_registry(analyzer: Any | None = None) -> Registry:
    """The built-in registry with Presidio answering every personal-data detector."""
    analyzer = analyzer if analyzer is not None else load_analyzer()
    registry = Registry()
    for name, entities in ENTITIES.items():
        registry.register(PresidioDetector(name, entities, analyzer))
    return registry


def build_registry(engine: str) -> Registry:
    """The detector registry for ``STEWARD_PII_ENGINE``."""
    if engine == "builtin":
        return DEFAULT_REGISTRY
    if engine == "presidio":
        return presidio_registry()
    raise ValueError(f"STEWARD_PII_ENGINE: {engine!r} is not one of {', '.join(ENGINES)}")
