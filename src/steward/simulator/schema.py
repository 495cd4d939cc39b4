"""Make a JSON value that satisfies a JSON Schema: tool ``input`` and structured outputs.

It covers what tool and output schemas use in practice (types, enum, const, required, nested
objects and arrays, bounds, formats, anyOf/oneOf/allOf, local ``$ref``); ``pattern`` is not solved.
Values are deterministic for a given seed.
"""

from __future__ import annotations

import math
from typing import Any

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
MAX_DEPTH = 6
FORMATS = {
    "date-time": "2026-01-15T09:30:00Z", "date": "2026-01-15", "time": "09:30:00Z",
    "email": "user@example.com", "uri": "https://example.com/resource", "url": "https://example.com/",
    "uuid": "0f8fad5b-d9cb-469f-a165-70867728950e", "hostname": "example.com", "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


def instance(schema: Any, seed: int = 0) -> Any:
    """A value valid against ``schema`` (a JSON Schema object)."""
    root = schema if isinstance(schema, dict) else {}
    return _value(root, root, seed, 0, "value")


def _value(schema: dict[str, Any], root: dict[str, Any], seed: int, depth: int, name: str) -> Any:
    if depth > 3 * MAX_DEPTH:
        return None  # a schema that requires infinite nesting cannot be satisfied anyway
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed % len(enum)]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(_first_concrete(options, root), root, seed, depth, name)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, root, seed, depth)
    if kind == "array":
        return _array(schema, root, seed, depth, name)
    if kind == "integer":
        return math.ceil(_number(schema, seed, integer=True))
    if kind == "number":
        return _number(schema, seed, integer=False)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return _string(schema, seed, name)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
        target: Any = root
        for part in ref[2:].split("/") if ref != "#" else ():
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = dict(target) if isinstance(target, dict) else {}
        merged.update({k: v for k, v in schema.items() if k != "$ref"})
        schema = merged
    parts = schema.get("allOf")
    if isinstance(parts, list):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            if isinstance(part, dict):
                _merge_into(merged, _resolve(part, root))
        schema = merged
    return schema


def _merge_into(target: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if key == "properties" and isinstance(value, dict):
            target["properties"] = {**target.get("properties", {}), **value}
        elif key == "required" and isinstance(value, list):
            target["required"] = [*target.get("required", []), *value]
        else:
            target.setdefault(key, value)


def _first_concrete(options: list[Any], root: dict[str, Any]) -> dict[str, Any]:
    dicts = [_resolve(o, root) for o in options if isinstance(o, dict)]
    for option in dicts:
        if _kind(option) != "null":
            return option
    return dicts[0] if dicts else {}


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if concrete else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _object(schema: dict[str, Any], root: dict[str, Any], seed: int, depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    result: dict[str, Any] = {}
    for offset, (prop, sub) in enumerate(properties.items()):
        if depth >= MAX_DEPTH and prop not in required_names:
            continue
        sub_schema = sub if isinstance(sub, dict) else {}
        result[prop] = _value(sub_schema, root, seed + offset + 1, depth + 1, prop)
    return result


def _array(schema: dict[str, Any], root: dict[str, Any], seed: int, depth: int, name: str) -> list[Any]:
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, 2)))
    count = low if depth >= MAX_DEPTH else min(max(low, 2), high)
    items = schema.get("items")
    item_schema = items if isinstance(items, dict) else {}
    values = [_value(item_schema, root, seed + i, depth + 1, name) for i in range(count)]
    if schema.get("uniqueItems") and len({repr(v) for v in values}) < len(values):
        values = values[:1]
    return values


def _number(schema: dict[str, Any], seed: int, *, integer: bool) -> float:
    step = 1.0 if integer else 0.5
    low = _bound(schema, "minimum", "exclusiveMinimum", step)
    high = _bound(schema, "maximum", "exclusiveMaximum", -step)
    if low is None and high is None:
        return float(seed % 100 + 1) if integer else (seed % 100) + 0.5
    if low is None:
        return high if high is not None else 0.0
    if high is None:
        return low + (seed % 10) * step
    return low + min(max(0.0, high - low), (seed % 10) * step)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, nudge: float) -> float | None:
    value = schema.get(inclusive)
    if isinstance(value, int | float):
        return float(value)
    value = schema.get(exclusive)
    if isinstance(value, int | float):
        return float(value) + nudge
    return None


def _string(schema: dict[str, Any], seed: int, name: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS:
        return FORMATS[fmt]
    text = f"{name} {WORDS[seed % len(WORDS)]}"
    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text = text + "x" * (min_length - len(text))
    max_length = schema.get("maxLength")
    if isinstance(max_length, int):
        text = text[:max_length]
    return text
