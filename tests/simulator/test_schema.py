"""Values generated from JSON Schemas (tool input, structured output), and config validation."""

from __future__ import annotations

from typing import Any

import pytest

from steward.simulator import SimulatorConfig
from steward.simulator.generate import lorem_pieces, split_pieces
from steward.simulator.schema import instance


def test_scalars_bounds_and_formats() -> None:
    assert instance({"type": "integer", "minimum": 10, "maximum": 12}) in (10, 11, 12)
    assert instance({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, seed=3) <= 1
    assert isinstance(instance({"type": "boolean"}), bool)
    assert instance({"type": "null"}) is None
    assert instance({"type": "string", "format": "date-time"}) == "2026-01-15T09:30:00Z"
    assert len(instance({"type": "string", "minLength": 40})) >= 40
    assert len(instance({"type": "string", "maxLength": 3})) <= 3
    assert instance({"const": "fixed"}) == "fixed"
    assert instance({"enum": ["a", "b", "c"]}, seed=4) == "b"
    assert isinstance(instance({"type": ["null", "integer"]}), int)


def test_nested_objects_arrays_refs_and_combinators() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {
            "points": {"type": "array", "items": {"$ref": "#/$defs/point"}, "minItems": 3},
            "either": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                               {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
        },
        "required": ["points", "either", "both"],
    }
    value = instance(schema, seed=7)
    assert len(value["points"]) == 3 and all(isinstance(p["x"], float) for p in value["points"])
    assert isinstance(value["either"], str)
    assert isinstance(value["both"]["a"], int) and isinstance(value["both"]["b"], bool)


def test_recursive_schemas_terminate() -> None:
    tree = {"type": "object", "properties": {"name": {"type": "string"},
                                             "children": {"type": "array", "items": {"$ref": "#"}}},
            "required": ["name"]}
    value = instance(tree)
    depth = 0
    while value.get("children"):
        value, depth = value["children"][0], depth + 1
    assert depth < 10


def test_pieces_concatenate_to_the_text() -> None:
    text = '{"city": "Paris", "days": 3}\n  end '
    assert "".join(split_pieces(text)) == text
    assert "".join(lorem_pieces(8, 0)) == "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    assert len(lorem_pieces(1000, 5)) == 1000


def test_config_rejects_unknown_faults() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        SimulatorConfig(fault="explode")
