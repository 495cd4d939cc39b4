"""The sealer's event hash (orjson where provably identical) against the reference in verify_offline.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steward.compliance import verify_offline
from steward.compliance.chain import event_dict, event_hash
from tests.audit.helpers import event

# JSON values as events hold them, floats and integers past 64 bits included (those take the reference path).
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text() | \
    st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                             max_size=4),
                      max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(data=st.dictionaries(st.text(), values, max_size=6), reason=st.none() | st.text(),
       tools=st.none() | st.lists(st.text(), max_size=3))
def test_the_fast_hash_is_the_reference_hash(data: dict[str, Any], reason: str | None,
                                             tools: list[str] | None) -> None:
    row = event_dict(event(1, data=data, reason=reason, tools_used=tools,
                           created_at=datetime(2026, 12, 7, 4, 5, 6, 7, tzinfo=UTC)))
    assert event_hash(row) == verify_offline.event_hash(row)


def test_control_characters_and_unicode_hash_as_the_reference_does() -> None:
    text = "".join(chr(c) for c in range(0x00, 0x80)) + "é€😀\u2028\u2029\ufeff"
    row = event_dict(event(1, reason=text, data={text: [text, 2**63 - 1, -(2**63)], "é": {"z": 1, "a": True}}))
    assert event_hash(row) == verify_offline.event_hash(row)
