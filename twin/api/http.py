"""The HTTP details every answer shares, in one ASGI layer outside everything else.

:class:`HTTPEdge` wraps the whole application (error pages included), so no route can forget:

- **HEAD** is answered like GET without the body, on every route. FastAPI routes declare GET
  only, so a HEAD used to fall through to the viewer's static mount and get a 404.
- **Body limit**: a body larger than ``TWIN_MAX_BODY_BYTES`` is refused with 413, from its
  ``Content-Length`` before anything reads it, or as it streams in. Routes under
  :data:`SELF_LIMITED` apply the same limit themselves, because they must keep what they
  refuse (an oversize ingest body becomes a dead letter).
- **Security headers** on every answer (:func:`security_headers`): ``nosniff``, a referrer
  policy, no framing, and a Content-Security-Policy the viewer works under (its Vite build
  loads scripts and styles from its own origin only).
- **One Vary header**: the routes, the gzip layer and CORS each add to ``Vary``; the answer
  carries one header with each name once.

:class:`NegotiatedGZip` is Starlette's gzip with RFC 9110's ``Accept-Encoding`` rules
(:func:`accepts_coding`): ``gzip;q=0`` means "not gzip", which a substring test missed.
The rules are plain functions, testable without a server.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geodata.errors import InputError, PayloadTooLarge
from twin.api.errors import problem


def viewer_csp(issuer_origin: str | None = None) -> str:
    """The viewer's policy: its own scripts and styles; WebGL textures and glTF buffers come as
    blob:/data:. With OpenID Connect sign-in the viewer also fetches the issuer's discovery
    document and token endpoint, so ``connect-src`` names that one origin (from
    ``TWIN_OIDC_ISSUER``), never ``*``; the authorization page is a navigation, which the CSP
    does not govern."""
    connect = "connect-src 'self' data: blob:" + (f" {issuer_origin}" if issuer_origin else "")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # the viewer's panels set a few style attributes in their markup
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            connect,
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


#: the viewer's policy when no OpenID Connect issuer is configured
VIEWER_CSP = viewer_csp()
#: FastAPI's /docs page is Swagger UI: an inline script and its files from a public CDN
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https:",
        "style-src 'self' 'unsafe-inline' https:",
        "img-src 'self' data: https:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})


def security_headers(path: str, viewer: str = VIEWER_CSP) -> list[tuple[str, str]]:
    """The security headers of an answer to ``path`` (the docs page gets its own CSP)."""
    return [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", DOCS_CSP if path in DOCS_PATHS else viewer),
    ]


def accepts_coding(header: str | None, coding: str) -> bool:
    """Does an ``Accept-Encoding`` header accept ``coding`` (RFC 9110 section 12.5.3)?

    A coding named with ``q=0`` is refused even when ``*`` would allow it; ``*`` covers the
    codings not named; a q-value that is not a number counts as 0. No header: only identity,
    which is what servers send to clients that say nothing.
    """
    if header is None:
        return coding == "identity"
    wildcard: bool | None = None
    for item in header.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if name == coding.lower():
            return q > 0
        if name == "*":
            wildcard = q > 0
    if wildcard is not None:
        return wildcard
    return coding == "identity"


def merge_vary(values: Iterable[str]) -> str:
    """One ``Vary`` value from several: each field name once (case-insensitively), ``*`` alone."""
    names: dict[str, str] = {}
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name:
                names.setdefault(name.lower(), name)
    return "*" if "*" in names else ", ".join(names.values())


class NegotiatedGZip(GZipMiddleware):
    """Starlette's gzip, but only for clients whose ``Accept-Encoding`` really accepts it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder: ASGIApp
        if accepts_coding(Headers(scope=scope).get("accept-encoding"), "gzip"):
            responder = GZipResponder(
                self.app,
                self.minimum_size,
                compresslevel=self.compresslevel,
                thread_minimum_size=self.thread_minimum_size,
                exclude_content_types=self.exclude_content_types,
            )
        else:
            responder = IdentityResponder(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )
        await responder(scope, receive, send)


#: path prefixes whose routes enforce ``max_body_bytes`` themselves (twin.api.ingest)
SELF_LIMITED = ("/api/ingest",)


class HTTPEdge:
    """The outermost layer: HEAD, the body limit, security headers and one Vary header."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, viewer_csp: str = VIEWER_CSP) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.viewer_csp = viewer_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:  # the server still sees HEAD and sends no body; the routes see a GET
            scope = {**scope, "method": "GET"}
        extra = security_headers(scope["path"], self.viewer_csp)

        async def send_edge(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                vary = headers.getlist("vary")
                if vary:
                    del headers["vary"]
                    headers["Vary"] = merge_vary(vary)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            elif head and message["type"] in ("http.response.body", "http.response.pathsend"):
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        if scope["path"].startswith(SELF_LIMITED):
            await self.app(scope, receive, send_edge)
            return
        refusal = self._refusal(Headers(scope=scope).get("content-length"))
        if refusal is not None:
            await problem(refusal.http_status, str(refusal))(scope, receive, send_edge)
            return
        await self.app(scope, self._limited(receive), send_edge)

    def _refusal(self, declared: str | None) -> InputError | PayloadTooLarge | None:
        if declared is None:
            return None
        if not declared.strip().isdigit():
            return InputError(f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > self.max_body_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than this server's limit of {self.max_body_bytes} "
            "bytes (TWIN_MAX_BODY_BYTES): send a smaller one"
        )

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that counts the body and raises 413 past the limit (chunked bodies)."""
        seen = 0

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise self._too_large()
            return message

        return receive_limited
