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
# Bounds of the values that flow from a request into the ledger (usage_records / audit_events columns), checked
# at the door so the database accepts everything the journal holds. The API refuses longer values too (a model
# id it does not know is a 404; metadata.user_id is limited to 256), so these are never stricter than it.
MAX_MODEL_CHARS = 100
MAX_USER_ID_CHARS = 256
MAX_SESSION_ID_CHARS = 128
SESSION_HEADER = "x-claude-code-session-id"


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


def _bounded(value: str, field: str, limit: int) -> str:
    """``value`` unless it is over ``limit`` characters or holds a NUL (which PostgreSQL text refuses)."""
    if len(value) > limit:
        raise InvalidRequestError(f"{field}: String should have at most {limit} characters")
    if "\x00" in value:
        raise InvalidRequestError(f"{field}: String should not contain NUL characters")
    return value


def check_headers(headers: dict[str, str]) -> str | None:
    """Request headers whose values reach the ledger, on every data-plane endpoint; returns the checked session
    id. Only a checked value is recorded: a refusal of a bad one must not carry it to the database."""
    session = headers.get(SESSION_HEADER)
    if session is not None and (len(session) > MAX_SESSION_ID_CHARS or not session.isprintable()):
        raise InvalidRequestError(f"{SESSION_HEADER}: at most {MAX_SESSION_ID_CHARS} printable characters")
    return session


def user_id_of(payload: dict[str, Any], prefix: str = "") -> str | None:
    """``metadata.user_id`` (checked: a string of at most 256 characters without NUL) or None."""
    metadata = payload.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidRequestError(f"{prefix}metadata: Input should be a valid dictionary")
    user_id = metadata.get("user_id")
    if user_id is None:
        return None
    if not isinstance(user_id, str):
        raise InvalidRequestError(f"{prefix}metadata.user_id: Input should be a valid string")
    return _bounded(user_id, f"{prefix}metadata.user_id", MAX_USER_ID_CHARS)


def check_message_params(payload: dict[str, Any], *, count_tokens: bool = False,
                         prefix: str = "") -> str | None:
    """The fields Steward depends on, with the API's wording; ``prefix`` names a batch item. Returns the
    checked ``metadata.user_id``."""
    try:
        _bounded(_require(payload, "model", str, "a valid string"), "model", MAX_MODEL_CHARS)
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
    return user_id_of(payload, prefix)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong."""
    if not body:
        raise InvalidRequestError("The request body is empty; a JSON object is required.")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem: str | None = str(exc)  # raised below, outside the handler: the decode error holds the whole
    else:                               # body as text (.doc), and as the new error's __context__ it would live
        problem = None                  # as long as the refusal does
    if problem is not None:
        raise InvalidRequestError(f"The request body is not valid JSON: {problem}")
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
        ctx.user_id = check_message_params(payload, count_tokens=self._count_tokens)
        ctx.model = payload["model"]
        ctx.stream = bool(payload.get("stream", False)) and not self._count_tokens

    def on_complete(self, ctx: RequestContext) -> None:
        return None
