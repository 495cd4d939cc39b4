"""The words of a budget refusal: which cap refused, whether it is spent or the request's worst case does not fit
what is left, and how to get through (a lower ``max_tokens``, or an increase request).

Pure: reads the refused counter's state as the store found it (the same ``BudgetAdmission`` from the in-process
and the Redis store, so both refuse with the same text) and prices nothing itself: the caller passes the largest
``max_tokens`` that would fit (``largest_fitting``). The answer stays Anthropic's 400 ``invalid_request_error``
for a self-set limit (``SpendLimitReachedError``): clients do not retry it, and that must not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from steward.dataplane.snapshot import KeyEntry, SpendEntry
from steward.errors import SpendLimitReachedError
from steward.governance.budgets import CounterState
from steward.governance.money import usd
from steward.governance.spend_rules import PICO_PER_CENT, regain_text, window
from steward.storage.models.spend import END_USER_SCOPE

_PERIOD_WORDS = {"daily": "daily", "weekly": "weekly", "monthly": "monthly"}
# Caps over more than the caller's own key, workspace or person: refused without their figures.
SHARED_SCOPES = frozenset({"organization", END_USER_SCOPE})
_CENT = Decimal("0.01")


@dataclass(slots=True, frozen=True)
class Ask:
    """What was asked: the worst case reserved, and (a single request) its ``max_tokens`` and model."""

    needed: int  # pico-USD
    max_tokens: int | None = None
    model: str = ""
    batch: bool = False


def money(picousd: int, rounding: str = ROUND_CEILING) -> str:
    """Dollars as a person reads them: ``$1,234.50``; below a cent's precision, six decimals (``$0.000384``),
    rounded as asked (a worst case up, what is left down, so the two never look equal when one does not fit)."""
    amount = usd(picousd)
    if amount == amount.quantize(_CENT):
        return f"${amount:,.2f}"
    return f"${amount.quantize(Decimal('0.000001'), rounding=rounding):,f}"


def cap_name(entry: SpendEntry, key: KeyEntry | None) -> str:
    """``workspace Marketing's monthly limit of $50.00`` (a key's limit by the key's name)."""
    label = entry.label or f"{entry.scope} {entry.scope_id}"
    if entry.scope == "api_key" and key is not None and key.id == entry.scope_id:
        label = f"API key {key.name}"
    return f"{label}'s {_PERIOD_WORDS.get(entry.period, entry.period)} limit of {money(entry.cap_picousd)}"


def _increase(entry: SpendEntry, state: CounterState, needed: int) -> str:
    """How to ask for a cap that would let this request through now (whole cents, rounded up)."""
    cents = -(-(state.spent + state.reserved + needed) // PICO_PER_CENT)
    dollars = (Decimal(cents) / 100).quantize(_CENT)
    return (f"ask an admin to raise the limit: `steward spend-requests create --limit {entry.id} --amount-usd "
            f"{dollars}` (or the console's Limits page)")


def _shared_message(entry: SpendEntry, state: CounterState, ask: Ask, now: datetime) -> str:
    """A cap over more than the caller's key, workspace or person (the organization's, or an end user's across
    workspaces): which cap and why, but none of its figures - a key holder may not read that spend, and a
    suggested ``max_tokens`` would tell what is left."""
    label = entry.label or f"{entry.scope} {entry.scope_id}"
    name = f"{label}'s {_PERIOD_WORDS.get(entry.period, entry.period)} limit"
    if state.spent >= entry.cap_picousd:
        return (f"You have reached your specified API usage limits: {name} is spent. You will regain access on "
                f"{regain_text(window(entry.period, now).end)}. To continue sooner, ask an admin to raise it.")
    what = "This batch's worst case" if ask.batch else "This request's worst case"
    lower = "its requests' max_tokens" if ask.batch else "max_tokens"
    return (f"{what} ({money(ask.needed)}) does not fit in what is left of {name} (its spend is not shown to API "
            f"keys). Lower {lower}, or ask an admin to raise the limit.")


def message(entry: SpendEntry, state: CounterState, ask: Ask, now: datetime, *, key: KeyEntry | None = None,
            fitting: int | None = None) -> str:
    """The refusal's text; ``fitting``: the largest ``max_tokens`` that fits every cap (None or 0: none does).
    Figures are given for the caller's own caps only (its key, workspace, person); see ``_shared_message``."""
    if entry.scope in SHARED_SCOPES:
        return _shared_message(entry, state, ask, now)
    name = cap_name(entry, key)
    if state.spent >= entry.cap_picousd:
        return (f"You have reached your specified API usage limits: {name} is spent ({money(state.spent)} used). "
                f"You will regain access on {regain_text(window(entry.period, now).end)}. To continue sooner, "
                f"{_increase(entry, state, ask.needed)}.")
    left = max(0, entry.cap_picousd - state.spent - state.reserved)
    what = "This batch's worst case" if ask.batch else "This request's worst case"
    how = ("the sum of its requests' input and max_tokens at the batch price" if ask.batch
           else f"its input and max_tokens {ask.max_tokens} of output on {ask.model}")
    remaining = money(left, ROUND_FLOOR) if left == 0 or left >= 10**6 else "less than $0.000001"
    text = (f"{what} ({money(ask.needed)}: {how}) does not fit in {name}: {remaining} is left "
            f"({money(state.spent, ROUND_FLOOR)} spent, {money(state.reserved, ROUND_FLOOR)} held by requests in "
            "flight). ")
    if ask.batch:
        return text + f"Lower its requests' max_tokens or split the batch, or {_increase(entry, state, ask.needed)}."
    if fitting:
        return text + (f"Lower max_tokens to {fitting} or less to fit, or "
                       f"{_increase(entry, state, ask.needed)}.")
    return text + f"Even max_tokens 1 does not fit; {_increase(entry, state, ask.needed)}."


def largest_fitting(worst_case: Callable[[int], int], max_tokens: int, room: int) -> int:
    """The largest ``max_tokens`` below the one asked whose worst case fits in ``room`` pico-USD (0: none), by
    bisection over the model's price (monotonic in output tokens): a dozen pricings, on the refusal path only."""
    low, high = 0, max_tokens - 1
    if high < 1 or worst_case(1) > room:
        return 0
    low = 1
    while low < high:
        middle = (low + high + 1) // 2
        if worst_case(middle) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def room(states: Sequence[CounterState]) -> int:
    """What every hard cap has left (the least of them), in pico-USD."""
    return min((max(0, s.counter.cap - s.spent - s.reserved) for s in states), default=0)


def refusal(entry: SpendEntry, state: CounterState, ask: Ask, now: datetime, *, key: KeyEntry | None = None,
            fitting: int | None = None) -> SpendLimitReachedError:
    """The API's 400 with ``message``."""
    return SpendLimitReachedError(message(entry, state, ask, now, key=key, fitting=fitting))
