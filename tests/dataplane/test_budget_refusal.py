"""The words of a budget refusal, with the packaged catalog's real prices: the largest ``max_tokens`` offered is
the largest that fits (one more does not), amounts read as money, and a cap with no room for even one output
token says so instead of offering ``max_tokens 0``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from steward.dataplane.budget_refusal import Ask, largest_fitting, message, money
from steward.dataplane.snapshot import SpendEntry
from steward.governance.budgets import Counter, CounterState
from steward.governance.catalog import Catalog
from steward.governance.spend_rules import PICO_PER_CENT, worst_case_picousd

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
CATALOG = Catalog.load_default().as_of(NOW.date())


def worst(model: str, estimate: int = 10) -> Callable[[int], int]:
    """The worst case of a request to ``model`` as a function of its ``max_tokens``."""
    return lambda tokens: worst_case_picousd(CATALOG, model, {"max_tokens": tokens}, estimate, NOW, caching=False)


def test_the_offered_max_tokens_is_the_largest_that_fits() -> None:
    for model, room in (("claude-haiku-4-5", PICO_PER_CENT), ("claude-sonnet-4-5", 3 * PICO_PER_CENT),
                        ("claude-opus-4-1", 7 * PICO_PER_CENT)):
        cost = worst(model)
        fitting = largest_fitting(cost, 100_000, room)
        assert fitting > 0 and cost(fitting) <= room < cost(fitting + 1), model
    assert largest_fitting(worst("claude-haiku-4-5"), 100_000, 1) == 0  # not even one token
    assert largest_fitting(worst("claude-haiku-4-5"), 1, PICO_PER_CENT) == 0  # nothing below max_tokens 1


def test_money_reads_like_money() -> None:
    assert [money(c * PICO_PER_CENT) for c in (1, 5000, 123456)] == ["$0.01", "$50.00", "$1,234.56"]
    assert money(10_008_000_000) == "$0.010008" and money(1) == "$0.000001" and money(1, "ROUND_FLOOR") == "$0.000000"


def test_no_room_for_one_token_asks_for_an_increase_only() -> None:
    entry = SpendEntry("spl_x", "org_x", "workspace", "wrkspc_x", "daily", PICO_PER_CENT, True, (50,),
                       "workspace Marketing")
    state = CounterState(Counter("k", PICO_PER_CENT, 1.0), PICO_PER_CENT - 5, 0)
    text = message(entry, state, Ask(2 * PICO_PER_CENT, 2000, "claude-haiku-4-5"), NOW, fitting=0)
    assert "workspace Marketing's daily limit of $0.01: less than $0.000001 is left" in text
    assert text.endswith("Even max_tokens 1 does not fit; ask an admin to raise the limit: `steward spend-requests "
                         "create --limit spl_x --amount-usd 0.03` (or the console's Limits page).")
