"""Honour ``X-Forwarded-Proto/Host/Port/For`` from a trusted reverse proxy (docker/nginx).

Behind nginx the app sees nginx's connection: plain HTTP from a container address, with the
Host nginx chose. Links the app writes from the request (the ``next`` and ``prev`` links of
``/items``, ``self`` links) must carry what the *user* typed, e.g. ``https://twin.example:8443``,
or paging sends clients to an address they cannot reach. uvicorn's own proxy-header support
reads only the scheme and the client address, not the host and port, so this small ASGI
middleware does all four, in one place, and only for peers listed in
``TWIN_FORWARDED_ALLOW_IPS`` (anyone else could forge links and client addresses).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from geodata.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: a host name or an IP address (IPv6 in brackets): nothing that could bend a URL
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def parse_trusted(value: str | Iterable[str]) -> tuple[Network, ...] | None:
    """The proxies whose forwarded headers are believed: ``*`` (None: every peer), or a list
    of addresses and networks (``127.0.0.1,10.0.0.0/8``).

    :raises ConfigError: an entry that is neither an address nor a network.
    """
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    items = [v for v in items if v]
    if "*" in items:
        return None
    networks: list[Network] = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"TWIN_FORWARDED_ALLOW_IPS: {item!r} is not an IP address or network: give "
                "e.g. 127.0.0.1,10.0.0.0/8, or * when only the proxy can reach the app"
            ) from None
    return tuple(networks)


def _first(value: str) -> str:
    """The first entry of a header a chain of proxies may have appended to."""
    return value.split(",", 1)[0].strip()


class ForwardedHeaders:
    """ASGI middleware: rewrite scheme, host, port and client from a trusted proxy's headers.

    Untrusted peers' headers are ignored (the request keeps what the socket says); malformed
    values from a trusted one are ignored one by one rather than turned into broken links.
    """

    def __init__(self, app: ASGIApp, trusted: str | Iterable[str] = "127.0.0.1") -> None:
        self.app = app
        self.trusted = parse_trusted(trusted)

    def _is_trusted(self, client: Any) -> bool:
        if self.trusted is None:
            return True
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:  # a Unix socket or a test client's made-up name
            return False
        return any(address in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._is_trusted(scope.get("client")):
            scope = rewrite(scope, self._is_trusted)
        await self.app(scope, receive, send)


def rewrite(scope: Scope, is_proxy: Callable[[Any], bool] = lambda _: False) -> Scope:
    """A copy of ``scope`` with the forwarded scheme, host, port and client applied.

    The client is the last ``X-Forwarded-For`` entry that is not one of our proxies: entries
    left of it were written by the client itself and prove nothing.
    """
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    scope = dict(scope)
    proto = _first(headers.get("x-forwarded-proto", "")).lower()
    if proto in ("http", "https"):
        scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if _is_ws(scope) else proto
    host = _first(headers.get("x-forwarded-host", "")) or None
    if host and not _HOST.match(host):  # a port inside X-Forwarded-Host is not accepted
        host = None
    port_text = _first(headers.get("x-forwarded-port", ""))
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if host or port:
        old_host, old_port = _split_host(headers.get("host", ""), scope)
        host, port = host or old_host, port or old_port
        shown = host if port in (None, _DEFAULT_PORTS.get(scope["scheme"])) else f"{host}:{port}"
        raw = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"] = [(b"host", shown.encode("latin-1")), *raw]
        scope["server"] = (host, port or _DEFAULT_PORTS.get(scope["scheme"], 80))
    chain = [c.strip() for c in headers.get("x-forwarded-for", "").split(",") if c.strip()]
    for client in reversed(chain):
        try:
            ipaddress.ip_address(client)
        except ValueError:
            break  # a garbled chain: keep the socket's address
        if not is_proxy((client, 0)) or client == chain[0]:
            scope["client"] = (client, 0)
            break
    return scope


def _is_ws(scope: Scope) -> bool:
    return bool(scope["type"] == "websocket")


def _split_host(value: str, scope: Scope) -> tuple[str, int | None]:
    """Host and port of a ``Host`` header (or of the socket when there is none)."""
    if not value:
        server = scope.get("server") or ("localhost", None)
        return str(server[0]), server[1]
    if value.startswith("["):  # [::1]:8000
        end = value.find("]")
        rest = value[end + 1 :]
        return value[: end + 1], int(rest[1:]) if rest[1:].isdigit() else None
    name, _, port = value.partition(":")
    return name, int(port) if port.isdigit() else None
