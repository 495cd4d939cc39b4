"""Regenerate the settings table of docs/configuration.md from steward.settings (run after adding a setting)."""

from __future__ import annotations

from pathlib import Path

from steward.settings import Settings

DEFAULTS = {
    "home": "`./var`",
    "forward_request_headers": '`["anthropic-version", "anthropic-beta"]`',
    "upstream_api_keys": "`[]` (none: the upstream must not need one, e.g. the simulator)",
}

HEAD = """# Configuration

Every setting Steward reads, all from the environment with the prefix `STEWARD_` (one place:
`src/steward/settings.py`). Lists are JSON (`STEWARD_UPSTREAM_API_KEYS='["sk-ant-..."]'`). A contract test
checks that this page names every setting; `python scripts/config_docs.py` rewrites the table.

| Variable | Default | Meaning |
|---|---|---|
"""


def main() -> None:
    rows = []
    for name, field in Settings.model_fields.items():
        default = DEFAULTS.get(name, f"`{field.get_default(call_default_factory=True)}`")
        rows.append(f"| `STEWARD_{name.upper()}` | {default} | {field.description} |")
    path = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    path.write_text(HEAD + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
