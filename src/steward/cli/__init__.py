"""The ``steward`` command line (Typer + Rich). Calls services, never Steward's own HTTP API."""
