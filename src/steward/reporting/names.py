"""Display names for report rows: the workspace, API key and user behind each id, added next to the id.

Reports keep their ids (the Anthropic-shaped endpoints carry nothing else); Steward's own report rows, the CLI
tables and CSV, and the console get ``workspace_name``, ``api_key_name`` and ``user_name`` beside them. A
``user_id`` in usage is the end-user string a client sent as ``metadata.user_id``: it gets a name only when it
is a Steward user's id or email. Pure: the names are read once per report by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NAME_COLUMNS", "Names"]

# id column -> the name column added after it
NAME_COLUMNS = {"workspace_id": "workspace_name", "api_key_id": "api_key_name", "user_id": "user_name"}


@dataclass(slots=True, frozen=True)
class Names:
    """Workspace, key and user names of one organization, by id (users by id and by email)."""

    workspaces: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, workspaces: dict[str, str], keys: dict[str, str],
              users: Iterable[tuple[str, str, str]]) -> Names:
        """From the repository's lists; a user is found by id or email, and named "Name <email>"."""
        people: dict[str, str] = {}
        for user_id, name, email in users:
            label = f"{name} <{email}>" if name and name != email else email
            people[user_id] = label
            people[email.lower()] = label
        return cls(workspaces, keys, people)

    def of(self, column: str, value: str | None) -> str | None:
        """The name behind ``value`` of an id column, or None when it names nothing known."""
        if value is None:
            return None
        if column == "workspace_id":
            return self.workspaces.get(value)
        if column == "api_key_id":
            return self.keys.get(value)
        if column == "user_id":
            return self.users.get(value) or self.users.get(value.lower())
        return None

    def label(self, rows: Iterable[MutableMapping[str, Any]]) -> None:
        """Add the name column after each id column a row has (rows are changed in place, key order kept)."""
        for row in rows:
            if not any(c in row for c in NAME_COLUMNS):
                continue
            items = list(row.items())
            row.clear()
            for key, value in items:
                row[key] = value
                if key in NAME_COLUMNS:
                    row[NAME_COLUMNS[key]] = self.of(key, value)
