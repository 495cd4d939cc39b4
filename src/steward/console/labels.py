"""Words for what the console shows: a spend limit's scope by name, rate-limit groups and limit types by their
human names. Jinja globals; they only format (names are looked up once per page by the callers)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from markupsafe import Markup

SCOPE_WORDS = {"organization": "Organization", "workspace": "Workspace", "api_key": "API key",
               "user": "End user", "person": "Person", "member": "Person"}
GROUP_NAMES = {"rlg_batch": "Message Batches"}
LIMIT_TYPES = {
    "requests_per_minute": "Requests per minute", "input_tokens_per_minute": "Input tokens per minute",
    "input_tokens_per_minute_cache_aware": "Input tokens per minute (cache-aware)",
    "output_tokens_per_minute": "Output tokens per minute", "tokens_per_minute": "Tokens per minute",
    "tokens_per_day": "Tokens per day", "queued_requests": "Queued batch requests",
}


def scope_label(scope: Mapping[str, Any], names: Mapping[str, str]) -> Markup:
    """``Workspace <b>Marketing</b>`` with the id in a tooltip; an end user's ``metadata.user_id`` as it is."""
    kind = str(scope.get("type") or "")
    word = SCOPE_WORDS.get(kind, kind.replace("_", " ").capitalize())
    if kind == "organization":
        return Markup(escape(word))  # noqa: S704 - escaped
    scope_id = next((str(v) for k, v in scope.items() if k.endswith("_id") and v), "")
    name = names.get(scope_id)
    shown = (f'<span class="named" title="{escape(scope_id)}">{escape(name)}</span>' if name
             else f"<code>{escape(scope_id)}</code>")
    return Markup(f"{escape(word)} {shown}")  # noqa: S704 - escaped


def group_label(group: Mapping[str, Any]) -> str:
    """A rate-limit group's name: its display name, else a known name, else its id without ``rlg_``."""
    found = group.get("display_name") or GROUP_NAMES.get(str(group.get("id")))
    if found:
        return str(found)
    raw = str(group.get("id") or "").removeprefix("rlg_")
    return f"Claude {raw.title()}" if raw else "Unnamed group"


def limit_type_label(kind: str) -> str:
    return LIMIT_TYPES.get(kind, kind.replace("_", " ").capitalize())
