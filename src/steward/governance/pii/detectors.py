"""The built-in detectors for personal data in text: e-mail, phone, payment card, national id, IBAN, IP address.

Speed comes from not running regexes over prose. Everything numeric (phones, cards, ids, IBANs, IPv4) is
looked for only in a short "numeric view" of the text made of the regions around clusters of digits, found
with one ``bytes.translate`` and one literal-prefix scan; e-mail only around each ``@``; IPv6 only around
``::`` or when a text has seven colons. Every candidate is then confirmed (Luhn, mod-97, issuer ranges,
``ipaddress``) before it counts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

from steward.governance.pii import checks
from steward.governance.pii.view import NumericView, numeric_view, run_end


@dataclass(slots=True, frozen=True)
class Finding:
    """One detected item: which detector, and where in the text (never the text itself)."""

    detector: str
    start: int
    end: int


class Detector(Protocol):
    """A detector names what it finds and yields the spans of a text that hold it."""

    @property
    def name(self) -> str: ...

    def find(self, text: str) -> Iterable[Finding]: ...


class NumericDetector:
    """A detector whose candidates all contain digits: it searches the numeric view only."""

    name: ClassVar[str] = ""
    min_digits: ClassVar[int] = 1
    pattern: ClassVar[re.Pattern[str]]

    def find(self, text: str) -> Iterator[Finding]:
        return self.find_in(text, numeric_view(text))

    def find_in(self, text: str, view: NumericView) -> Iterator[Finding]:
        """Findings through a precomputed view (the scanner builds one per text for every numeric detector)."""
        if view.max_digits < self.min_digits:
            return
        for match in self.pattern.finditer(view.text):
            if self.confirm(match):
                start = view.origin(match.start())
                yield Finding(self.name, start, start + match.end() - match.start())

    def confirm(self, match: re.Match[str]) -> bool:
        return True


_SEPARATORS = str.maketrans("", "", " -.()+")


def _digits(value: str) -> str:
    """The digits of a candidate made of digits and the separators its pattern allows."""
    return value.translate(_SEPARATORS)


class PaymentCard(NumericDetector):
    """13-19 digits, contiguous or in the printed groupings (4-4-4-4[-3], 4-6-5, 4-6-4); Luhn and issuer range."""

    name = "payment_card"
    min_digits = 13
    pattern = re.compile(
        # The look-behind sits after the first digit so that the search keeps its fast first-character scan.
        r"[0-9](?<![0-9A-Za-z][0-9])(?:[0-9]{12,18}"
        r"|[0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{3}(?![0-9]))?"
        r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5})(?![0-9A-Za-z])")

    def confirm(self, match: re.Match[str]) -> bool:
        return checks.payment_card(_digits(match.group()))


class Phone(NumericDetector):
    """International (+ and country code), North American and European national (trunk 0) numbers, 9-15 digits.

    Bare digit runs are not phones (they are order numbers as often): a national number needs separators.
    """

    name = "phone"
    min_digits = 9
    # First a character class, then the look-behinds (see PaymentCard), then the branch its first character allows.
    pattern = re.compile(
        r"[+(0-9](?<![0-9A-Za-z+][+(0-9])(?:"
        r"(?P<intl>(?<=\+)[1-9](?:[ .-]?\(?[0-9]\)?){6,15}[0-9])"
        r"|(?:(?<=1)[ .-](?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})|(?<=\()[2-9][0-9]{2}\)|(?<=[2-9])[0-9]{2})"
        r"[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}"
        r"|(?<=0)[1-9][0-9]{0,4}(?:[ -][0-9]{2,8}){1,4}"
        r")(?![0-9A-Za-z])")

    def confirm(self, match: re.Match[str]) -> bool:
        text = match.group()
        if text.count("(") != text.count(")") or text.count("(") > 1:
            return False
        count = len(_digits(text))
        return 9 <= count <= (15 if match.group("intl") else 13)


class NationalId(NumericDetector):
    """US SSN, UK National Insurance number, Canadian SIN, Spanish DNI and NIE, each with its own check."""

    name = "national_id"
    min_digits = 6
    pattern = re.compile(
        r"[0-9A-Z](?<![0-9A-Za-z-][0-9A-Z])(?:"
        r"(?P<ssn>(?<=[0-9])[0-9]{2}(?P<s1>[ -])[0-9]{2}(?P=s1)[0-9]{4})"
        r"|(?P<sin>(?<=[1-79])[0-9]{2}(?P<s2>[ -])[0-9]{3}(?P=s2)[0-9]{3})"
        r"|(?P<nino>(?<=[A-CEGHJ-PR-TW-Z])[A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])"
        r"|(?<=[0-9])[0-9]{7}-?[A-Z]|(?<=[XYZ])-?[0-9]{7}-?[A-Z]"
        r")(?![0-9A-Za-z-])")

    def confirm(self, match: re.Match[str]) -> bool:
        text = match.group()
        if match.group("ssn"):
            return checks.us_ssn(text[0:3], text[4:6], text[7:11])
        if match.group("sin"):
            return checks.canada_sin(_digits(text))
        if match.group("nino"):
            return checks.uk_nino(text[:2])
        compact = text.replace("-", "")
        return checks.spain_dni(compact[:-1], compact[-1])


class Iban(NumericDetector):
    """Upper-case IBANs, with or without the printed spaces; the country's length and the mod-97 check."""

    name = "iban"
    min_digits = 4
    pattern = re.compile(r"[A-Z](?<![0-9A-Za-z][A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
                         r"(?![0-9A-Za-z])")

    def confirm(self, match: re.Match[str]) -> bool:
        return checks.iban(match.group().replace(" ", ""))


class IpV4(NumericDetector):
    """Dotted-quad IPv4 addresses that ``ipaddress`` accepts (no octet over 255, no leading zeros)."""

    name = "ip_address"
    min_digits = 4
    pattern = re.compile(r"[0-9](?<![0-9A-Za-z.][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?![0-9A-Za-z]|\.[0-9])")

    def confirm(self, match: re.Match[str]) -> bool:
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            return False
        return True


_IPV6_LEFT = re.compile(r"[0-9A-Fa-f:]{0,39}\Z")
_IPV6_RIGHT = re.compile(r"[0-9A-Fa-f:.]{0,45}")
_IPV6_FULL = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}(?![0-9A-Za-z:])")
_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv6(text: str, start: int, end: int) -> bool:
    candidate = text[start:end]
    if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
        return False
    # "a::b" or "dead::beef" are more often code than addresses: ask for four hex digits, one of them a digit.
    if sum(c in _HEX for c in candidate) < 4 or not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


class IpAddress(IpV4):
    """IPv4 (inside numeric windows) and IPv6 (around ``::``, or full eight-group forms)."""

    def find_in(self, text: str, view: NumericView) -> Iterator[Finding]:
        if "." in view.text:
            yield from super().find_in(text, view)
        if ":" not in text:
            return
        seen = -1
        index = text.find("::")
        while index != -1:
            left = _IPV6_LEFT.search(text, max(0, index - 39), index)
            start = left.start() if left else index
            end = run_end(_IPV6_RIGHT, text, index)
            end -= len(text[start:end]) - len(text[start:end].rstrip("."))
            if start > seen and _ipv6(text, start, end):
                seen = end
                yield Finding(self.name, start, end)
            index = text.find("::", max(end, index + 2))
        if text.count(":") >= 7:
            for match in _IPV6_FULL.finditer(text):
                if match.start() > seen and _ipv6(text, match.start(), match.end()):
                    yield Finding(self.name, match.start(), match.end())


_EMAIL_LOCAL = re.compile(r"[\w.%+-]{1,64}")  # \w: internationalized local parts (jürgen@...)
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])")


class Email:
    """Addresses ``local@domain.tld``, searched only around each ``@`` (so a text without one costs a memchr)."""

    name = "email"

    def find(self, text: str) -> Iterator[Finding]:
        index = text.find("@")
        while index != -1:
            domain = _EMAIL_DOMAIN.match(text, index + 1)
            # The local part is matched backwards from the "@" (on the reversed 64 characters before it), so
            # that finding where it starts costs one match instead of a search from every position.
            local = _EMAIL_LOCAL.match(text[max(0, index - 64):index][::-1]) if domain is not None else None
            if local is not None and domain is not None:
                start = index - local.end()
                while start < index and text[start] == ".":
                    start += 1
                if start < index:
                    yield Finding(self.name, start, domain.end())
                    index = text.find("@", domain.end())
                    continue
            index = text.find("@", index + 1)
