"""The client's address behind a reverse proxy: X-Forwarded-For, believed from trusted proxies only.

Behind nginx every request comes from the proxy's address, so per-address limits (the web
chat's per-client rate) would count all citizens together. Requests whose peer is one of
``XINFANG_TRUSTED_PROXIES`` get the right-most address of X-Forwarded-For that is not
itself a trusted proxy; from anyone else the header is ignored, so it cannot be forged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_networks(spec: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (raises ValueError on a bad one)."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()
    )


def _trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_middleware(
    networks: tuple[Network, ...],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware that sets ``request.remote`` to the client behind trusted proxies."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _trusted(request.remote, networks):
            hops = [
                hop.strip()
                for value in request.headers.getall("X-Forwarded-For", [])
                for hop in value.split(",")
                if hop.strip()
            ]
            client = request.remote
            for hop in reversed(hops):
                client = hop
                if not _trusted(hop, networks):
                    break
            if client is not None and client != request.remote:
                request = request.clone(remote=client)
        return await handler(request)

    return middleware
