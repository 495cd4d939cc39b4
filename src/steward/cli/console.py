"""``steward console link``: a one-time sign-in link to the web console for a user (the demo prints one too).

The link is stored hashed and works once, within ``STEWARD_CONSOLE_LINK_MINUTES``; the session it opens acts
with the user's role (no admin key scope: read-only and compliance scopes need a key-based sign-in).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer

from steward.cli import address
from steward.cli.common import run_with_control_plane, say
from steward.console.auth import mint_link
from steward.controlplane.services import ControlPlane
from steward.errors import NotFoundError
from steward.settings import Settings
from steward.storage.repositories.console import ConsoleRepository

console_app = typer.Typer(help="The web console at /console.", no_args_is_help=True)


async def sign_in_link(plane: ControlPlane, settings: Settings, email: str, base_url: str) -> str:
    """A one-time sign-in URL for the user with this email."""
    repo = ConsoleRepository(plane.database.sessions)
    user = await repo.user_by_email(email)
    if user is None:
        raise NotFoundError(f"No user with email {email!r}.")
    token = await mint_link(repo, user.org_id, user.id, None, timedelta(minutes=settings.console_link_minutes))
    return f"{base_url.rstrip('/')}/console/link/{token}"


@console_app.command("link")
def console_link(
    email: Annotated[str, typer.Option(help="The user's email (e.g. the first admin's, given to `steward init`).")],
    base_url: Annotated[str | None, typer.Option(
        help="Where people reach the gateway. Default: STEWARD_PUBLIC_URL if set, else the address a running "
             "`steward serve` of this home serves on, else http://STEWARD_HOST:STEWARD_PORT.")] = None,
) -> None:
    """Print a one-time sign-in link to the console for a user."""
    settings = Settings()
    url = base_url or address.base_url(settings)
    link = run_with_control_plane(lambda plane: sign_in_link(plane, settings, email, url))
    say(f"One-time sign-in link for {email} (valid {settings.console_link_minutes} minutes, works once):")
    print(link)


def demo_banner(settings: Settings, gateway_url: str, email: str) -> str:
    """The demo's console line: the address and a one-time sign-in link for its admin."""
    async def action() -> str:
        plane = ControlPlane(settings)
        try:
            return await sign_in_link(plane, settings, email, gateway_url)
        finally:
            await plane.close()
    link = asyncio.run(action())
    return (f"Console: {gateway_url}/console/ -- one-time sign-in link for {email} (valid "
            f"{settings.console_link_minutes} minutes, works once): {link}")
