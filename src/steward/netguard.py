"""Outbound requests Steward makes for its users (webhooks) reach the public internet only.

An admin-supplied URL must not turn the gateway into a probe of its own network: loopback, private, link-local
(cloud metadata at 169.254.169.254), multicast, reserved and unspecified addresses are refused, both when the URL
is saved (an IP literal or ``localhost``) and when it is connected to (``PublicOnlyResolver`` checks every address a
name resolves to at connection time, so a name that later resolves inward, DNS rebinding, is refused too).
``STEWARD_WEBHOOK_ALLOW_PRIVATE`` turns the guard off for receivers inside the network.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


def forbidden_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is one an outbound request must not reach; False for a name."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


def forbidden_host(host: str) -> bool:
    """A URL host refused when it is saved: an inward IP literal, or a name for this machine."""
    name = host.lower().rstrip(".")
    return forbidden_address(name) or name == "localhost" or name.endswith(".localhost")


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver and refuses a name with any inward address."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if any(forbidden_address(str(r["host"])) for r in found):
            raise OSError(errno.EACCES, f"{host} resolves to an address webhooks may not reach (loopback, private, "
                                        "link-local); set STEWARD_WEBHOOK_ALLOW_PRIVATE to allow it")
        return found

    async def close(self) -> None:
        await self._inner.close()


def resolver_kwargs(allow_private: bool) -> dict[str, Any]:
    """``aiohttp.TCPConnector`` keyword arguments for outbound webhook requests."""
    return {} if allow_private else {"resolver": PublicOnlyResolver()}
