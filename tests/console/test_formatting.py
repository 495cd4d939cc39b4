"""The console's pure formatting pieces: chart colours and ticks, refusal reasons, report tables, labels."""

from __future__ import annotations

from starlette.requests import Request

from steward.console.charts import PALETTE, _slot, colors, nice_ticks, stacked_bars
from steward.console.labels import group_label, limit_type_label, scope_label
from steward.console.refusals import refusal_counts
from steward.console.tables import Names, build, title, with_names


def test_a_model_keeps_its_colour_and_no_chart_reuses_one() -> None:
    models = [f"claude-model-{i}" for i in range(len(PALETTE))]
    first = colors(models)
    assert len(set(first.values())) == len(models)  # every colour once
    assert colors(list(reversed(models))) == first  # order of arrival does not matter
    for name in models:  # alone, a name takes its own hashed colour: the same on every page and reload
        assert colors([name])[name] == PALETTE[_slot(name)]


def test_ticks_are_round_and_cover_the_top() -> None:
    assert nice_ticks(9.3) == [0, 2.5, 5.0, 7.5, 10.0]
    assert nice_ticks(0.0014)[-1] >= 0.0014 and len(nice_ticks(0.0014)) <= 6


def test_charts_leave_out_series_with_nothing_to_draw() -> None:
    svg = str(stacked_bars(["2026-12-01", "2026-12-02"], {"claude-sonnet-4-6": {"2026-12-01": 1.5},
                                                          "claude-nonexistent-9": {"2026-12-01": 0.0}}))
    assert "claude-sonnet-4-6" in svg and "claude-nonexistent-9" not in svg
    assert "Dec 1" in svg and "$0.00" in svg and 'class="ytick"' in svg


def test_refusals_by_reason() -> None:
    rows = [{"reason": "policy", "refusals": 1}, {"reason": "budget", "refusals": 2},
            {"reason": "rate_limit", "refusals": 0}]
    assert refusal_counts(rows) == [("Budget", 2), ("Policy", 1)]  # the report's reason order; zeros left out
    assert refusal_counts([]) == []


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/console/usage", "query_string": query.encode(),
                    "headers": [], "scheme": "http", "server": ("x", 80), "root_path": ""})


ROWS = [{"workspace_id": f"wrkspc_{i}", "model": "claude-sonnet-4-6", "requests": i, "input_tokens": 1000 * i,
         "web_fetch_requests": 0, "cost_usd": f"{i * 1.5:.2f}"} for i in range(1, 121)]


def test_report_table_sorts_by_cost_totals_and_pages() -> None:
    names = Names({"wrkspc_7": "Marketing"})
    table = build(_request(""), ROWS, ["workspace_id", "model"], names)
    assert table.sort == "cost_usd" and table.descending and table.rows[0]["requests"] == 120
    assert "web_fetch_requests" not in table.measures and table.measures[-1] == "cost_usd"
    assert table.pages == 3 and len(table.rows) == 50 and "next" in table.links
    assert str(table.totals["requests"]) == str(sum(range(1, 121)))
    by_name = build(_request("sort=workspace_id&dir=asc&page=3"), ROWS, ["workspace_id", "model"], names)
    assert by_name.page == 3 and "prev" in by_name.links
    first = build(_request("sort=workspace_id&dir=asc"), ROWS, ["workspace_id", "model"], names)
    assert first.rows[0]["workspace_id"] == "wrkspc_7"  # "Marketing" sorts before "wrkspc_..."
    assert title("cache_write_5m_tokens") == "Cache writes (5 min)" and title("cost_usd") == "Cost"
    rows, columns = with_names(ROWS[6:7], ["workspace_id", "model"], names)
    assert columns == ["workspace_id", "workspace_name", "model"] and rows[0]["workspace_name"] == "Marketing"


def test_labels() -> None:
    assert group_label({"id": "rlg_batch", "type": "batch"}) == "Message Batches"
    assert group_label({"id": "rlg_sonnet", "type": "model_group", "display_name": "Claude Sonnet"}) == \
        "Claude Sonnet"
    assert limit_type_label("tokens_per_day") == "Tokens per day"
    label = str(scope_label({"type": "workspace", "workspace_id": "wrkspc_1"}, {"wrkspc_1": "Marketing"}))
    assert "Workspace" in label and "Marketing" in label and 'title="wrkspc_1"' in label
    assert str(scope_label({"type": "organization"}, {})) == "Organization"


def test_money_reads_the_same_in_cents_and_in_dollars() -> None:
    from steward.console.web import dollars, dollars_from_cents

    assert dollars_from_cents(3.692) == dollars("0.03692") == "$0.0369"  # a cap's spend and the spend tile agree
    assert [dollars_from_cents(v) for v in (1, 0, 150_000)] == ["$0.01", "$0.00", "$1,500.00"]  # caps stay cents
    assert dollars_from_cents("12345.678") == "$123.46"
