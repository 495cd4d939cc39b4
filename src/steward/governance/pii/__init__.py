"""PII detection and data-handling rules: detectors, the rules type, and applying rules to a request body.

Pure code, no I/O. ``Privacy`` (dataplane/stages/privacy.py) applies ``PiiRules`` from the effective policy;
``DETECTORS`` are the built-ins by name (priority order); ``Registry`` takes plug-in detectors.
"""

from __future__ import annotations

from steward.governance.pii.detectors import Detector, Finding
from steward.governance.pii.presidio import (
    ENGINES,
    PiiEngineUnavailable,
    PresidioDetector,
    build_registry,
    presidio_registry,
)
from steward.governance.pii.registry import DEFAULT_REGISTRY, DETECTORS, Registry, Scanner, scan
from steward.governance.pii.rules import ACTIONS, PiiOutcome, PiiRules, apply, redaction, refusal_message

__all__ = [
    "ACTIONS",
    "DEFAULT_REGISTRY",
    "DETECTORS",
    "ENGINES",
    "Detector",
    "Finding",
    "PiiEngineUnavailable",
    "PiiOutcome",
    "PiiRules",
    "PresidioDetector",
    "Registry",
    "Scanner",
    "apply",
    "build_registry",
    "presidio_registry",
    "redaction",
    "refusal_message",
    "scan",
]
