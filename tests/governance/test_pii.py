"""PII detectors (true positives and near misses), rules, redaction, refusal and shadow, on plain payloads."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import time
from collections.abc import Iterator

import pytest

from steward.governance.pii import (
    DETECTORS,
    Finding,
    PiiEngineUnavailable,
    PiiRules,
    Registry,
    apply,
    build_registry,
    scan,
)

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5M"
       "DIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n" \
      "-----END RSA PRIVATE KEY-----"

POSITIVES: dict[str, list[str]] = {
    "email": ["john.doe+tag@example.co.uk", "a.b@sub.example.org", "X_Y%z@mail-host.example.com"],
    "phone": ["+1 415 555 2671", "+44 20 7946 0958", "+14155552671", "(415) 555-2671", "415.555.2671",
              "1-800-555-0199", "+33 1 23 45 67 89", "06 12 34 56 78", "030 12345678", "+49 (30) 1234567"],
    "payment_card": ["4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "3782 822463 10005",
                     "6011111111111117", "3530111333300000", "2223003122003222", "30569309025904"],
    "national_id": ["536-22-8726", "536 22 8726", "AB 12 34 56 C", "AB123456C", "130 692 544", "130-692-544",
                    "12345678Z", "X1234567L"],
    "iban": ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00",
             "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300"],
    "ip_address": ["192.168.1.20", "10.0.0.1", "8.8.8.8", "2001:db8::ff00:42:8329", "fe80::1",
                   "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.1"],
    "secret": ["sk-ant-api03-Xy7Qm2Lp9Rt4Vw8Zb1Nc6Df3Gh5Jk0MnPqRsTuVwXyZ012345",
               "sk-stw-api01-4f9Kq2ZxLm8Rt1VbN7cD3gH6jP0sW5yA2eU9iO4kL7qZ8xC1vB3nM6",
               "sk-proj-AbCdEf0123456789GhIjKlMn", "AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A",
               "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
               "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
               "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", PEM, JWT],
}

NEGATIVES: dict[str, list[str]] = {
    "email": ["john@localhost", "@handle", "a@b", "john at example dot com", "user@.com"],
    "phone": ["2024-05-12", "12345678", "1234567812345678", "123-456-7890", "415-5555", "version 1.2.3.4.5",
              "+12 34", "01-02-2024"],
    "payment_card": ["4111111111111112",            # fails Luhn
                     "9837441200981237",            # Luhn-valid order number, no issuer starts with 9
                     "1234 5678 1234 5670",         # Luhn-valid, no issuer starts with 1
                     "41111111111111110000",        # 20 digits
                     "4111 1111-1111 1111"],        # mixed separators
    "national_id": ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "078-05-1120",
                    "GB 12 34 56 C", "DA 12 34 56 C", "AB 12 34 56 E", "12345678A", "130 692 545",
                    "123-45-67890"],
    "iban": ["GB82 WEST 1234 5698 7654 33",             # bad check digits
             "GB82 WEST 1234 5698 7654",                # wrong length for GB
             "QQ82 WEST 1234 5698 7654 32"],            # no such country
    "ip_address": ["999.1.1.1", "256.256.256.256", "1.2.3", "1.2.3.4.5", "01.02.03.04", "std::vector",
                   "12:30:45", "::", "dead::beef", "a::b", "00:1A:2B:3C:4D:5E"],
    "secret": ["sk-learn-is-a-python-library-for-ml", "eyJub3RhbGciOiJ4In0.eyJzdWIiOiIxIn0.c2ln",
               "AKIA1234", "ghp_short", "aws commit 3f786850e387550fdab836ed7e6dc881de23001b",
               "-----BEGIN PUBLIC KEY-----"],
}


def found(text: str, detector: str) -> list[str]:
    return [text[f.start:f.end] for f in scan(text, [detector])]


@pytest.mark.parametrize(("detector", "value"), [(d, v) for d, values in POSITIVES.items() for v in values])
def test_detector_finds(detector: str, value: str) -> None:
    text = f"Please check ({value}) and reply."
    assert found(text, detector) == [value]


@pytest.mark.parametrize(("detector", "value"), [(d, v) for d, values in NEGATIVES.items() for v in values])
def test_detector_ignores_near_misses(detector: str, value: str) -> None:
    assert found(f"Please check {value} and reply.", detector) == []


def test_aws_secret_key_only_near_the_word_aws() -> None:
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert found(f"aws_secret_access_key = {key}", "secret") == [key]
    assert found(f"{'lorem ipsum ' * 30}{key}", "secret") == []


def test_scan_returns_spans_in_text_order_without_overlaps() -> None:
    text = ("Card 4111 1111 1111 1111, mail ana@example.com, IBAN GB82 WEST 1234 5698 7654 32, "
            "ip 10.1.2.3, call +44 20 7946 0958.")
    findings = scan(text)
    assert [f.detector for f in findings] == ["payment_card", "email", "iban", "ip_address", "phone"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


def test_prose_with_numbers_is_clean() -> None:
    text = ("Revenue grew 12.5% to 4.2 million in Q3 2025; churn fell from 3.1% to 2.4%. We renewed 41 of 44 "
            "contracts, closed 120 tickets in 7 days, and version 2.14.1 shipped on 2025-07-14 at 10:30:00. "
            "Order #1234567812345678 is late. C++'s std::vector and Foo::bar are fine. Internationalization!")
    assert scan(text) == []


def test_non_ascii_text_is_scanned_the_same_way() -> None:
    text = "Schöne Grüße — Karte 4111 1111 1111 1111, E-Mail jürgen@example.de, Tel. +49 30 1234567 ✓"
    assert [(f.detector, text[f.start:f.end]) for f in scan(text)] == [
        ("payment_card", "4111 1111 1111 1111"), ("email", "jürgen@example.de"), ("phone", "+49 30 1234567")]


def test_detector_names_are_the_contract() -> None:
    assert set(DETECTORS) == {"email", "phone", "payment_card", "national_id", "iban", "ip_address", "secret"}


# --- rules ---------------------------------------------------------------------------------------------------


def test_rules_from_document() -> None:
    document = {"default": "redact", "detectors": {"payment_card": "refuse", "ip_address": "allow"}}
    rules = PiiRules.from_document(document, ["pii.email", "features.tools"])
    assert rules.action("payment_card") == "refuse"
    assert rules.action("ip_address") == "allow"
    assert rules.action("phone") == "redact"
    assert rules.shadow == frozenset({"email"})
    assert PiiRules.from_document({}).action("email") == "allow"


@pytest.mark.parametrize(("doc", "shadow", "message"), [
    ({"default": "block"}, [], "pii.default: must be one of allow, redact, refuse"),
    ({"detectors": {"emial": "redact"}}, [], "pii.detectors.emial: unknown detector"),
    ({"detectors": {"email": "mask"}}, [], "pii.detectors.email: must be one of"),
    ({"detectors": ["email"]}, [], "pii.detectors: must be an object"),
    ({"mode": "strict"}, [], "pii.mode: unknown field"),
    ({}, ["pii.passport"], "shadow: pii.passport names no detector"),
])
def test_rules_refuse_bad_documents(doc: dict[str, object], shadow: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        PiiRules.from_document(doc, shadow)


def body(text: str) -> dict[str, object]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 64, "metadata": {"user_id": "u-1"},
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "system": [{"type": "text", "text": f"System note: {text}", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": f"Hello, {text}"},
                {"role": "assistant", "content": [{"type": "text", "text": "Sure."},
                                                  {"type": "tool_use", "id": "tu_1", "name": "lookup",
                                                   "input": {"q": text}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": text}]},
                    {"type": "tool_result", "tool_use_id": "tu_2", "content": text},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "text", "text": "Thanks"}]}]}


def test_redact_replaces_findings_everywhere_the_model_reads_and_keeps_the_rest() -> None:
    original = body("write to ana@example.com or call +44 20 7946 0958")
    pristine = copy.deepcopy(original)
    outcome = apply(original, PiiRules.from_document({"detectors": {"email": "redact"}}))
    assert original == pristine  # the caller's payload is not modified
    redacted = outcome.payload
    assert redacted is not None and outcome.refused is None
    expected = "write to [REDACTED:email] or call +44 20 7946 0958"
    assert redacted["system"][0] == {"type": "text", "text": f"System note: {expected}",
                                     "cache_control": {"type": "ephemeral"}}
    messages = redacted["messages"]
    assert messages[0]["content"] == f"Hello, {expected}"
    blocks = messages[2]["content"]
    assert blocks[0]["content"] == [{"type": "text", "text": expected}]
    assert blocks[1]["content"] == expected
    assert blocks[2]["source"] == {"type": "text", "media_type": "text/plain", "data": expected}
    assert blocks[3:] == pristine["messages"][2]["content"][3:]  # type: ignore[index]
    # The model's own tool input is not user text sent for reading: it passes untouched, like every other field.
    assert messages[1] == pristine["messages"][1]  # type: ignore[index]
    for field in ("model", "max_tokens", "metadata", "tools"):
        assert redacted[field] == pristine[field]
    assert outcome.counts == {"email": 5}


def test_refuse_names_the_rule_and_never_the_text() -> None:
    card = "4111 1111 1111 1111"
    outcome = apply(body(f"my card is {card}, mail ana@example.com"),
                    PiiRules.from_document({"default": "redact", "detectors": {"payment_card": "refuse"}}))
    assert outcome.refused == "pii.payment_card"
    assert outcome.payload is None
    assert outcome.message is not None and outcome.message.startswith("pii.payment_card: ")
    assert "payment card number" in outcome.message and "Remove" in outcome.message
    for secret in (card, card.replace(" ", ""), "1111", "ana@example.com"):
        assert secret not in outcome.message
    assert outcome.counts == {"payment_card": 5, "email": 5}


def test_shadow_rules_only_record() -> None:
    text = "card 4111111111111111 and ana@example.com"
    rules = PiiRules.from_document({"detectors": {"payment_card": "refuse", "email": "redact"}},
                                   ["pii.payment_card", "pii.email"])
    outcome = apply(body(text), rules)
    assert outcome.refused is None and outcome.payload is None
    assert outcome.shadow == ("pii.payment_card", "pii.email")
    assert outcome.counts == {"payment_card": 5, "email": 5}


def test_allowed_detectors_are_not_scanned_and_clean_text_is_untouched() -> None:
    outcome = apply(body("mail ana@example.com"), PiiRules.from_document({"detectors": {"email": "allow"}}))
    assert outcome.counts == {} and outcome.payload is None
    clean = apply(body("nothing personal here, 42 items"), PiiRules.from_document({"default": "refuse"}))
    assert clean.counts == {} and clean.payload is None and clean.refused is None


class Passport:
    """A plug-in detector (the Detector protocol): a made-up passport format."""

    name = "passport"

    def find(self, text: str) -> Iterator[Finding]:
        index = text.find("P<")
        if index != -1:
            yield Finding(self.name, index, index + 9)


def test_plugin_detectors_register_and_obey_rules() -> None:
    registry = Registry()
    registry.register(Passport())
    rules = PiiRules.from_document({"detectors": {"passport": "redact"}}, known=registry.names())
    outcome = apply({"messages": [{"role": "user", "content": "id P<UTO1234 ok"}]}, rules, registry)
    assert outcome.payload == {"messages": [{"role": "user", "content": "id [REDACTED:passport] ok"}]}


def test_presidio_engine_reports_a_missing_install() -> None:
    if importlib.util.find_spec("presidio_analyzer") is None:  # deliberately not installed in CI
        with pytest.raises(PiiEngineUnavailable, match=r"pip install 'steward\[presidio\]'"):
            build_registry("presidio")
    else:  # pragma: no cover - only where Presidio is installed
        registry = build_registry("presidio")
        assert [f.detector for f in scan("mail ana@example.com", ["email"], registry=registry)] == ["email"]
    assert build_registry("builtin").names()[0] == "secret"
    with pytest.raises(ValueError, match="STEWARD_PII_ENGINE"):
        build_registry("regex")


def test_pem_block_is_found_whole_or_by_its_header() -> None:
    text = f"key:\n{PEM}\nthanks"
    assert found(text, "secret") == [PEM]
    assert found("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA (cut)", "secret") == [
        "-----BEGIN OPENSSH PRIVATE KEY-----"]


@pytest.mark.parametrize("text", [
    "1234567890" * 20_000, "a@" * 100_000, "john.doe@example.com " * 10_000, "4111 1111 1111 1111 " * 10_000,
    "-----BEGIN PRIVATE KEY-----\n" * 7_000, "fe80::" * 30_000, "+1" + "2" * 200_000, "AB12" * 50_000])
def test_scanning_stays_linear_on_adversarial_text(text: str) -> None:
    started = time.perf_counter()
    scan(text)
    assert time.perf_counter() - started < 5.0  # about 0.1 s each on the development machine
