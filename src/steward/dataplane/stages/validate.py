"""Validate: parse the JSON body once and check only the fields Steward itself relies on.

Reads ``ctx.body`` and the ``x-steward-tags`` header; writes ``ctx.payload``, ``model``, ``stream``,
``user_id``, ``tags``; raises InvalidRequestError. Unknown fields pass through untouched (the raw bytes are
forwarded, not a re-serialisation), and so do message roles and content shapes: the current API accepts
more than Steward knows (``system`` messages since SDK 2.17), so refusing them is the upstream's job.
Cost: one orjson parse of the body.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from steward.dataplane.context import RequestContext
from steward.errors import InvalidRequestError

_TAG = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TAGS = 16


def parse_tags(raw: str | None) -> dict[str, str] | None:
    """``team=search,feature=summaries`` as a dict; refuses malformed input with a clear message."""
    if not raw:
        return None
    tags: dict[str, str] = {}
    for part in raw.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not _TAG.match(name) or not _TAG.match(value):
            raise InvalidRequestError(
                f"x-steward-tags: {part.strip()!r} is not name=value (letters, digits, _ . : - ; up to 64).")
        tags[name] = value
    if len(tags) > MAX_TAGS:
        raise InvalidRequestError(f"x-steward-tags: at most {MAX_TAGS} tags are allowed.")
    return tags


def _require(payload: dict[str, Any], field: str, kind: type, what: str) -> Any:
    if field not in payload:
        raise InvalidRequestError(f"{field}: Field required")
    value = payload[field]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequestError(f"{field}: Input should be {what}")
    return value


def _check_metadata(payload: dict[str, Any]) -> str | None:
    metadata = payload.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidRequestError("metadata: Input should be a valid dictionary")
    user_id = metadata.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise InvalidRequestError("metadata.user_id: Input should be a valid string")
    if user_id is not None and len(user_id) > 256:
        raise InvalidRequestError("metadata.user_id: String should have at most 256 characters")
    return user_id


def check_message_params(payload: dict[str, Any], *, count_tokens: bool = False,
                         prefix: str = "") -> None:
    """The fields Steward depends on, with the API's wording; ``prefix`` names a batch item."""
    try:
        _require(payload, "model", str, "a valid string")
        _require(payload, "messages", list, "a valid list")
        if not count_tokens:
            max_tokens = _require(payload, "max_tokens", int, "a valid integer")
            if max_tokens < 1:
                raise InvalidRequestError("max_tokens: Input should be greater than or equal to 1")
    except InvalidRequestError as exc:
        raise InvalidRequestError(prefix + exc.message) from None
    # Messages themselves are not checked: roles (user, assistant, system and any the API adds), content
    # shapes and block types are the upstream's to judge (docs/ARCHITECTURE.md, "Fidelity"). Steward only
    # walks them, tolerating any shape, for the token estimate, policies and PII.
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError(f"{prefix}stream: Input should be a valid boolean")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong."""
    if not body:
        raise InvalidRequestError("The request body is empty; a JSON object is required.")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return payload


class Validate:
    def __init__(self, *, count_tokens: bool = False) -> None:
        self._count_tokens = count_tokens

    def on_request(self, ctx: RequestContext) -> None:
        ctx.tags = parse_tags(ctx.headers.get("x-steward-tags"))
        payload = parse_json_object(ctx.body)
        ctx.payload = payload
        check_message_params(payload, count_tokens=self._count_tokens)
        ctx.model = payload["model"]
        ctx.stream = bool(payload.get("stream", False)) and not self._count_tokens
        ctx.user_id = _check_metadata(payload)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
