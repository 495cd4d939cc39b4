"""Money: USD as ``Decimal`` while it is computed, integer pico-dollars (10**-12 USD) once it is stored or summed.

The one definition of the unit and its rounding rules, used by metering, budgets, reports and telemetry:
- ``to_picousd`` (recorded costs and spend): half-even. Catalog prices have at most a few decimals and token
  counts are integers, so a recorded cost is always an exact number of pico-dollars and nothing is rounded;
  half-even is only the rule for values that come from outside the catalog (e.g. a telemetry ``cost_usd``).
- ``ceil_picousd`` (worst-case reservations): rounds up, because a reservation below the worst case could let
  a hard cap be overrun by a fraction of a pico-dollar per request.
No float ever holds an amount; ``usd`` turns pico-dollars back into an exact ``Decimal`` for display.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

__all__ = ["PICO_PER_USD", "ceil_picousd", "to_picousd", "usd"]

PICO_PER_USD = 10**12
_PICO = Decimal(PICO_PER_USD)


def to_picousd(amount: Decimal) -> int:
    """USD as integer pico-dollars (exact for every catalog-priced amount; half-even otherwise)."""
    return int((amount * _PICO).to_integral_value(rounding=ROUND_HALF_EVEN))


def ceil_picousd(amount: Decimal) -> int:
    """USD as integer pico-dollars, rounded up (reservations must never be below the worst case)."""
    return int((amount * _PICO).to_integral_value(rounding=ROUND_CEILING))


def usd(picousd: int) -> Decimal:
    """Pico-dollars as exact USD."""
    return Decimal(picousd) / _PICO
