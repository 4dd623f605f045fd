"""`X-Forwarded-For`, `-Proto` and `-Host`, believed only from the reverse proxies the operator names.

Behind a proxy that ends TLS (Caddy, nginx), the peer of every request is the proxy: the caller's
address, the scheme they used and the `Host` they asked for arrive in these headers. Anyone can send
them, so they are read only when the peer is in `MLOPS_TRUSTED_PROXIES` (none by default). uvicorn's own
handling is turned off (`proxy_headers=False` in `backend.server`): it trusts 127.0.0.1 by default,
and a loopback server's every peer is 127.0.0.1. With a trusted peer, the `Host` check sees the host the
caller asked the proxy for, so DNS rebinding through the proxy is refused too.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_commas(value: object) -> tuple[str, ...]:
    """`" a, b,,"` (or a sequence) -> `("a", "b")`."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    return tuple(str(item).strip() for item in items if str(item).strip())


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`("10.0.0.5", "fd00::/8")` -> networks (an address is a network of one). Raises ValueError."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def last_value(value: bytes) -> str:
    """The value the nearest proxy appended (the rightmost of a comma list)."""
    return value.decode("latin-1").rsplit(",", 1)[-1].strip()


def forwarded_client(value: bytes, trusted: tuple[Network, ...]) -> str | None:
    """The rightmost `X-Forwarded-For` address that is not a trusted proxy: the one a trusted proxy saw
    connect (what is left of it was written by the caller, who may write anything)."""
    hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else None


class ForwardedHeaders:
    """From a trusted peer: the client address, scheme and `Host` the forwarded headers name."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted and scope.get("client") and is_trusted(scope["client"][0],
                                                                                            self.trusted):
            headers = dict(scope["headers"])
            if b"x-forwarded-for" in headers:
                client = forwarded_client(headers[b"x-forwarded-for"], self.trusted)
                if client:
                    scope["client"] = (client, 0)
            proto = last_value(headers.get(b"x-forwarded-proto", b"")).lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
            host = last_value(headers.get(b"x-forwarded-host", b""))
            if host:
                scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"host"] + [
                    (b"host", host.encode("latin-1"))]
        await self.app(scope, receive, send)
