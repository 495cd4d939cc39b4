"""Check digits and number ranges that separate real identifiers from look-alike digit strings.

Pure functions over already-extracted candidates (digits only, or an IBAN without spaces); no regexes here.
"""

from __future__ import annotations

# Registered IBAN lengths per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

# Card issuer ranges: (lowest prefix, highest prefix, allowed lengths). Prefixes of equal width compare as ints.
_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),                      # Visa
    (51, 55, frozenset({16})),                             # Mastercard
    (2221, 2720, frozenset({16})),                         # Mastercard 2-series
    (34, 34, frozenset({15})), (37, 37, frozenset({15})),  # American Express
    (6011, 6011, frozenset(range(16, 20))),                # Discover
    (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),
    (300, 305, frozenset(range(14, 20))),                  # Diners Club
    (36, 36, frozenset(range(14, 20))), (38, 39, frozenset(range(16, 20))),
    (3528, 3589, frozenset(range(16, 20))),                # JCB
    (62, 62, frozenset(range(16, 20))),                    # UnionPay
    (2200, 2204, frozenset(range(16, 20))),                # Mir
    (50, 50, frozenset(range(13, 20))), (56, 58, frozenset(range(13, 20))),  # Maestro
    (63, 63, frozenset(range(13, 20))), (67, 67, frozenset(range(13, 20))),
)

_SSN_NEVER_ISSUED = frozenset({"078051120", "219099999", "123456789"})
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


_DOUBLED = str.maketrans("0123456789", "0246813579")  # each digit doubled, then its two digits summed
def _spell_out(ranges: tuple[tuple[int, int, frozenset[int]], ...]) -> dict[str, frozenset[int]]:
    """Every issuer prefix spelled out ("4", "51", ..., "2720"): a card's check is four dictionary lookups."""
    prefixes: dict[str, frozenset[int]] = {}
    for low, high, lengths in ranges:
        for prefix in range(low, high + 1):
            prefixes[str(prefix)] = prefixes.get(str(prefix), frozenset()) | lengths
    return prefixes


_CARD_PREFIXES = _spell_out(_CARD_RANGES)


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards and Canadian SINs."""
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return total % 10 == 0


def card_issuer_known(digits: str) -> bool:
    """Whether a known issuer range issues cards of this length with this prefix."""
    length = len(digits)
    return any(length in _CARD_PREFIXES.get(digits[:width], ()) for width in (1, 2, 3, 4))


def payment_card(digits: str) -> bool:
    """13-19 digits from a known issuer range that pass the Luhn check."""
    return 13 <= len(digits) <= 19 and card_issuer_known(digits) and luhn(digits)


def iban(candidate: str) -> bool:
    """Upper-case IBAN without spaces: the country's registered length and the ISO 13616 mod-97 check."""
    if IBAN_LENGTHS.get(candidate[:2]) != len(candidate):
        return False
    rearranged = candidate[4:] + candidate[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def us_ssn(area: str, group: str, serial: str) -> bool:
    """A US Social Security number the SSA could have issued (no 000/666/9xx area, 00 group, 0000 serial)."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in _SSN_NEVER_ISSUED


def uk_nino(prefix: str) -> bool:
    """The two-letter prefix of a UK National Insurance number is not one HMRC never allocates."""
    return prefix not in _NINO_BAD_PREFIXES


def canada_sin(digits: str) -> bool:
    """A Canadian Social Insurance Number: nine digits, not starting with 0 or 8, Luhn-valid."""
    return len(digits) == 9 and digits[0] not in "08" and luhn(digits)


def spain_dni(number: str, letter: str) -> bool:
    """A Spanish DNI (8 digits) or NIE (X/Y/Z and 7 digits) with its mod-23 control letter."""
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return _DNI_LETTERS[int(number) % 23] == letter
