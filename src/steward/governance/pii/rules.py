"""PII rules (allow, redact or refuse per detector) and applying them to a Messages request body.

``apply`` scans every text the model would read (system prompt, message strings, text blocks, tool results,
plain-text documents), counts findings per detector, and returns a redacted copy of the payload (untouched
parts are shared, not copied) or the refusing rule. Nothing it returns contains a finding's text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from steward.errors import InvalidRequestError
from steward.governance.pii.registry import DEFAULT_REGISTRY, DETECTORS, Registry, Scanner

ACTIONS = ("allow", "redact", "refuse")
_LABELS = {"email": ("e-mail address", "e-mail addresses"), "phone": ("phone number", "phone numbers"),
           "payment_card": ("payment card number", "payment card numbers"),
           "national_id": ("national id number", "national id numbers"), "iban": ("IBAN", "IBANs"),
           "ip_address": ("IP address", "IP addresses"), "secret": ("secret (API key, token or private key)",
                                                                    "secrets (API keys, tokens or private keys)")}


def _action(value: object, where: str) -> str:
    if value not in ACTIONS:
        raise ValueError(f"{where}: must be one of {', '.join(ACTIONS)} (got {value!r})")
    return str(value)


def _shadowed(shadow: Iterable[str]) -> frozenset[str]:
    """Detector names from shadow entries: ``pii.email`` (a policy's rule name) or ``email``; other rules ignored."""
    names = set()
    for rule in shadow:
        family, dot, name = rule.partition(".")
        if not dot:
            names.add(family)
        elif family == "pii":
            names.add(name)
    return frozenset(names)


@dataclass(slots=True, frozen=True)
class PiiRules:
    """The action per detector (``default`` for detectors not named) and the detectors whose rules only record."""

    actions: Mapping[str, str] = field(default_factory=dict)
    default: str = "allow"
    shadow: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shadow", _shadowed(self.shadow))

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], shadow: Iterable[str] = (),
                      known: Collection[str] = DETECTORS) -> PiiRules:
        """Rules from a policy's ``pii`` block; ValueError naming the field (``pii.detectors.emial``) when bad."""
        if not isinstance(doc, Mapping):
            raise ValueError("pii: must be an object")
        unknown = set(doc) - {"default", "detectors"}
        if unknown:
            raise ValueError(f"pii.{sorted(unknown)[0]}: unknown field (expected default, detectors)")
        default = _action(doc.get("default", "allow"), "pii.default")
        detectors = doc.get("detectors") or {}
        if not isinstance(detectors, Mapping):
            raise ValueError("pii.detectors: must be an object of detector name to action")
        actions: dict[str, str] = {}
        for name, action in detectors.items():
            if name not in known:
                raise ValueError(f"pii.detectors.{name}: unknown detector (known: {', '.join(known)})")
            actions[name] = _action(action, f"pii.detectors.{name}")
        shadowed = _shadowed(shadow)
        strangers = sorted(shadowed - set(known))
        if strangers:
            raise ValueError(f"shadow: pii.{strangers[0]} names no detector (known: {', '.join(known)})")
        return cls(MappingProxyType(actions), default, shadowed)

    def action(self, detector: str) -> str:
        return self.actions.get(detector, self.default)


@dataclass(slots=True, frozen=True)
class PiiOutcome:
    """What ``apply`` decided: a redacted payload (None if nothing was redacted), counts, refusal, shadow hits."""

    payload: dict[str, Any] | None
    counts: Mapping[str, int]
    refused: str | None = None        # the refusing rule, e.g. "pii.payment_card"
    shadow: tuple[str, ...] = ()      # rules that would have acted, e.g. ("pii.email",)
    message: str | None = None        # the refusal message (names the rule; never the text)


NOTHING = PiiOutcome(None, MappingProxyType({}))


def redaction(detector: str) -> str:
    """What a redacted finding becomes in the forwarded text."""
    return f"[REDACTED:{detector}]"


def refusal_message(detector: str, count: int, *, workspace: str | None = None, version: int | None = None) -> str:
    """The 400 message for a refused request: the rule, what was found (how many, never the text), how to comply."""
    singular, plural = _LABELS.get(detector, (f"{detector} finding", f"{detector} findings"))
    what = f"{count} {singular if count == 1 else plural}"
    policy = f"the data-handling policy of workspace {workspace!r}" if workspace else \
        "this workspace's data-handling policy"
    if version:
        policy += f" (policy v{version})"
    return (f"pii.{detector}: the request contains {what}, which {policy} does not allow to be sent. "
            f"Remove {'it' if count == 1 else 'them'} (or replace with a placeholder) and retry, or ask an "
            "administrator to change the pii rule.")


class _Run:
    """One application of the rules to one payload: counts, hits and the redacting text function."""

    def __init__(self, scanner: Scanner, rules: PiiRules) -> None:
        self.scanner, self.rules = scanner, rules
        self.counts: dict[str, int] = {}
        self.refused: set[str] = set()
        self.shadow: set[str] = set()

    def text(self, text: str) -> str:
        """The text with its redact findings replaced (the same object when nothing is redacted)."""
        findings = self.scanner.scan(text)
        if not findings:
            return text
        pieces: list[str] = []
        last = 0
        for finding in findings:
            name = finding.detector
            self.counts[name] = self.counts.get(name, 0) + 1
            action = self.rules.action(name)
            if name in self.rules.shadow:
                self.shadow.add(name)
            elif action == "refuse":
                self.refused.add(name)
            elif action == "redact":
                pieces.append(text[last:finding.start])
                pieces.append(redaction(name))
                last = finding.end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def apply(payload: dict[str, Any], rules: PiiRules, registry: Registry = DEFAULT_REGISTRY) -> PiiOutcome:
    """Scan a Messages payload with the detectors the rules act on (or shadow) and decide."""
    names = tuple(name for name in registry.names() if rules.action(name) != "allow")
    if not names:
        return NOTHING
    run = _Run(registry.scanner(names), rules)
    redacted = rewrite(payload, run.text)
    order = {name: i for i, name in enumerate(names)}
    shadow = tuple(f"pii.{name}" for name in sorted(run.shadow, key=order.__getitem__))
    counts = MappingProxyType(run.counts)
    if run.refused:
        first = min(run.refused, key=order.__getitem__)
        return PiiOutcome(None, counts, f"pii.{first}", shadow, refusal_message(first, run.counts[first]))
    return PiiOutcome(redacted if redacted is not payload else None, counts, None, shadow)


# --- walking the payload (copy on write) ---------------------------------------------------------------------

TextFn = Callable[[str], str]
MAX_DEPTH = 32  # content lists within content lists (tool results): far beyond what the API accepts


def rewrite(payload: dict[str, Any], fix: TextFn) -> dict[str, Any]:
    """``payload`` with ``fix`` applied to every text the model reads; the same object if nothing changed."""
    out = payload
    system = payload.get("system")
    new_system = _content(system, fix)
    if new_system is not system:
        out = {**payload, "system": new_system}
    messages = payload.get("messages")
    if isinstance(messages, list):
        new_messages = _each(messages, lambda m: _message(m, fix))
        if new_messages is not messages:
            out = {**out, "messages": new_messages}
    return out


def _each(items: list[Any], change: Callable[[Any], Any]) -> list[Any]:
    copy: list[Any] | None = None
    for i, item in enumerate(items):
        new = change(item)
        if new is not item:
            if copy is None:
                copy = list(items)
            copy[i] = new
    return items if copy is None else copy


def _message(message: Any, fix: TextFn) -> Any:
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    new = _content(content, fix)
    return message if new is content else {**message, "content": new}


def _content(content: Any, fix: TextFn, depth: int = 0) -> Any:
    if isinstance(content, str):
        return fix(content)
    if isinstance(content, list):
        if depth >= MAX_DEPTH:  # the API takes no tool_result within a tool_result; never recurse without bound
            raise InvalidRequestError(f"messages: content blocks nested more than {MAX_DEPTH} levels deep "
                                      "(tool_result within tool_result)")
        return _each(content, lambda block: _block(block, fix, depth + 1))
    return content


def _block(block: Any, fix: TextFn, depth: int) -> Any:
    if not isinstance(block, dict):
        return block
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if isinstance(text, str):
            new = fix(text)
            return block if new is text else {**block, "text": new}
    elif kind == "tool_result":
        content = block.get("content")
        new_content = _content(content, fix, depth)
        return block if new_content is content else {**block, "content": new_content}
    elif kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            data = source["data"]
            new_data = fix(data)
            return block if new_data is data else {**block, "source": {**source, "data": new_data}}
    return block
