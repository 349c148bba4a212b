"""twin.forwarded: a trusted proxy's X-Forwarded-* headers become the request's scheme, host,
port and client; anyone else's are ignored. The nginx test checks the same through a real
proxy; these pin the rules on plain ASGI scopes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from geodata.errors import ConfigError
from twin.forwarded import ForwardedHeaders, parse_trusted
from twin.settings import get_settings


def _scope(client: str, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "http",
        "server": ("10.0.0.5", 8000),
        "client": (client, 40000),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def _seen(trusted: str, scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    asyncio.run(ForwardedHeaders(app, trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen


def _host(scope: dict[str, Any]) -> str:
    return dict(scope["headers"])[b"host"].decode()


FORWARDED = {
    "host": "app:8000",
    "x_forwarded_proto": "https",
    "x_forwarded_host": "twin.example",
    "x_forwarded_port": "8443",
    "x_forwarded_for": "198.51.100.7, 203.0.113.9",
}


def test_a_trusted_proxy_sets_scheme_host_port_and_client() -> None:
    seen = _seen("10.0.0.0/8", _scope("10.0.0.2", **FORWARDED))
    assert seen["scheme"] == "https" and _host(seen) == "twin.example:8443"
    assert seen["server"] == ("twin.example", 8443)
    # the last address not written by the client itself
    assert seen["client"] == ("203.0.113.9", 0)


def test_the_default_port_of_the_scheme_is_left_out() -> None:
    seen = _seen("*", _scope("10.0.0.2", **{**FORWARDED, "x_forwarded_port": "443"}))
    assert _host(seen) == "twin.example"


def test_an_untrusted_peer_changes_nothing() -> None:
    scope = _scope("192.0.2.1", **FORWARDED)
    seen = _seen("127.0.0.1, 10.0.0.0/8", scope)
    assert seen["scheme"] == "http" and _host(seen) == "app:8000"
    assert seen["client"] == ("192.0.2.1", 40000)


def test_malformed_values_are_ignored_one_by_one() -> None:
    bad = {
        "host": "app:8000",
        "x_forwarded_proto": "gopher",
        "x_forwarded_host": "evil.example/path@",
        "x_forwarded_port": "99999",
        "x_forwarded_for": "not-an-ip",
    }
    seen = _seen("*", _scope("10.0.0.2", **bad))
    assert seen["scheme"] == "http" and _host(seen) == "app:8000"
    assert seen["client"] == ("10.0.0.2", 40000)
    only_port = _seen("*", _scope("10.0.0.2", host="app:8000", x_forwarded_port="8080"))
    assert _host(only_port) == "app:8080"


def test_bad_trusted_list_is_a_config_error_naming_the_entry() -> None:
    assert parse_trusted("*") is None
    with pytest.raises(ConfigError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        parse_trusted("127.0.0.1, 10.0.0.300")
    with pytest.raises(ConfigError, match="TWIN_FORWARDED_ALLOW_IPS"):
        get_settings(forwarded_allow_ips="proxy", _env_file=None)
