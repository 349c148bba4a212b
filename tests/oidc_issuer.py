"""A small OpenID Connect provider for the tests, on a local port: signing keys and their JWKS,
a discovery document, an authorization endpoint with a sign-in form, and a token endpoint that
runs the authorization code grant with PKCE (S256) and the refresh token grant.

It checks what a real provider checks, so the tests can fail: a registered client and
redirect URI, a code used once, within a minute, by the client and redirect URI it was issued
for, and a ``code_verifier`` whose SHA-256 is the ``code_challenge`` of the authorization
request. Refresh tokens rotate (each works once). The token endpoint answers CORS, as a
provider configured with the viewer's web origin does. Test users and their roles are given
in :attr:`Issuer.users`.

Like a real provider it keeps its own session (a cookie): an authorization request from a
browser already signed in here is answered at once, without the form, until the browser
comes through the end-session endpoint (RP-initiated logout), which only redirects to a
URI registered for the client.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.conftest import free_port

AUDIENCE = "urban-twin"
CODE_SECONDS = 60.0
#: the provider's session cookie (cookies ignore ports: a name the twin never uses)
COOKIE = "test_idp_session"


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Grant:
    """What an authorization code stands for, until it is exchanged."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    user: str
    scope: str
    expires: float


class GrantError(Exception):
    """An OAuth error answer of the token endpoint (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Issuer:
    """The provider; :meth:`register` a client before a browser signs in with it."""

    def __init__(self, audience: str = AUDIENCE) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.audience = audience
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fetches = 0  # JWKS reads
        self.users: dict[str, str] = {"carla": "agent", "dora": "agent", "paul": "citizen"}
        #: users who get no refresh token (their sign-in ends when the access token does)
        self.no_refresh: set[str] = {"dora"}
        self.clients: dict[str, set[str]] = {}
        self.token_seconds = 300
        self.offer_refresh = True
        #: each token endpoint answer: (grant_type, status, error or "")
        self.token_answers: list[tuple[str, int, str]] = []
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, tuple[str, str, str]] = {}  # token -> client, user, scope
        self.sessions: dict[str, str] = {}  # provider session cookie -> user
        self.logouts = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def register(self, client_id: str, redirect_uri: str) -> None:
        self.clients.setdefault(client_id, set()).add(redirect_uri)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- documents ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "end_session_endpoint": f"{self.url}/logout",
            "jwks_uri": f"{self.url}/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile"],
            "authorization_response_iss_parameter_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return KeySet([self.key]).as_dict(private=False)

    def token(self, key: RSAKey | None = None, **claims: Any) -> str:
        """An access token for this twin (the claims given override the defaults)."""
        key = key or self.key
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.token_seconds,
            "sub": "u-1",
            "preferred_username": "carla",
            "twin_role": "agent",
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)

    # -- the authorization endpoint ----------------------------------------------------
    def authorization_problem(self, q: dict[str, str]) -> str | None:
        """Why an authorization request may not even be redirected back (RFC 6749 4.1.2.1)."""
        client = q.get("client_id", "")
        if client not in self.clients:
            return f"unknown client_id {client!r}"
        if q.get("redirect_uri") not in self.clients[client]:
            return f"redirect_uri {q.get('redirect_uri')!r} is not registered for {client!r}"
        return None

    def authorization_error(self, q: dict[str, str]) -> str | None:
        """An error to send back to the client's redirect URI, or None."""
        if q.get("response_type") != "code":
            return "unsupported_response_type"
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return "invalid_request"
        if "openid" not in q.get("scope", "").split():
            return "invalid_scope"
        return None

    def issue_code(self, q: dict[str, str], user: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = Grant(
                client_id=q["client_id"],
                redirect_uri=q["redirect_uri"],
                challenge=q["code_challenge"],
                nonce=q.get("nonce"),
                user=user,
                scope=q.get("scope", "openid"),
                expires=time.monotonic() + CODE_SECONDS,
            )
        return code

    def start_session(self, user: str) -> str:
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = user
        return sid

    def logout_target(self, q: dict[str, str]) -> str | None:
        """Where the end-session endpoint may send the browser back to, or None (refused)."""
        client = q.get("client_id", "")
        target = q.get("post_logout_redirect_uri", "")
        if client not in self.clients or target not in self.clients[client]:
            return None
        return target + (f"?{urlencode({'state': q['state']})}" if "state" in q else "")

    # -- the token endpoint ------------------------------------------------------------
    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        """A token endpoint answer for a form; :class:`GrantError` when it is refused."""
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        raise GrantError("unsupported_grant_type", f"grant_type {grant_type!r}")

    def _code_grant(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.expires < time.monotonic():
            raise GrantError("invalid_grant", "unknown, used or expired code")
        if form.get("client_id") != grant.client_id:
            raise GrantError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise GrantError("invalid_grant", "redirect_uri differs from the authorization's")
        verifier = form.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(s256(verifier), grant.challenge):
            raise GrantError("invalid_grant", "PKCE verification failed (code_verifier)")
        return self._tokens(grant.client_id, grant.user, grant.scope, grant.nonce)

    def _refresh_grant(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            held = self._refresh.pop(form.get("refresh_token", ""), None)
        if held is None or held[0] != form.get("client_id"):
            raise GrantError("invalid_grant", "unknown or used refresh token")
        client, user, scope = held
        return self._tokens(client, user, scope, None)

    def _tokens(self, client: str, user: str, scope: str, nonce: str | None) -> dict[str, Any]:
        if user not in self.users:
            raise GrantError("invalid_grant", f"{user} no longer has an account")
        now = int(time.time())
        sub = f"sub-{user}"
        access = self.token(
            sub=sub, preferred_username=user, twin_role=self.users[user], azp=client, scope=scope
        )
        id_claims: dict[str, Any] = {
            "iss": self.url,
            "aud": client,
            "iat": now,
            "exp": now + self.token_seconds,
            "sub": sub,
            "preferred_username": user,
        }
        if nonce is not None:
            id_claims["nonce"] = nonce
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_seconds,
            "scope": scope,
            "id_token": jwt.encode({"alg": "RS256", "kid": self.key.kid}, id_claims, self.key),
        }
        if self.offer_refresh and user not in self.no_refresh:
            refresh = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh[refresh] = (client, user, scope)
            answer["refresh_token"] = refresh
        return answer


def _form_page(q: dict[str, str], note: str = "") -> bytes:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in q.items()
        if k != "username"
    )
    return (
        "<!doctype html><title>Test identity provider</title><link rel=icon href='data:,'>"
        "<h1>Sign in</h1>"
        f'<p id="note">{html.escape(note)}</p><form method="post" action="/authorize">{hidden}'
        '<input id="username" name="username" autocomplete="off">'
        '<button id="login" type="submit">Sign in</button></form>'
    ).encode()


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(
            self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: object) -> None:
            cors = {"Access-Control-Allow-Origin": "*"}
            self._send(status, json.dumps(doc).encode(), "application/json", cors)

        def _session_user(self) -> str | None:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE and value in issuer.sessions:
                    return issuer.sessions[value]
            return None

        def _query(self) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

        def _body(self) -> dict[str, str]:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def do_OPTIONS(self) -> None:  # CORS preflight of the token endpoint
            self._send(
                204,
                b"",
                "text/plain",
                {
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Content-Type, Accept, DPoP",
                },
            )

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                self._json(200, issuer.metadata())
            elif path == "/jwks.json":
                self._json(200, issuer.jwks())
            elif path == "/authorize":
                self._authorize(self._query(), self._session_user(), signed_in=True)
            elif path == "/logout":
                self._logout(self._query())
            else:
                self._send(404, b"not here", "text/plain")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == "/authorize":
                form = self._body()
                self._authorize(form, form.get("username", ""), signed_in=False)
            elif path == "/token":
                form = self._body()
                kind = form.get("grant_type", "")
                try:
                    answer = issuer.exchange(form)
                except GrantError as exc:
                    issuer.token_answers.append((kind, 400, exc.error))
                    self._json(400, {"error": exc.error, "error_description": exc.description})
                    return
                issuer.token_answers.append((kind, 200, ""))
                self._json(200, answer)
            else:
                self._send(404, b"not here", "text/plain")

        def _authorize(self, q: dict[str, str], user: str | None, *, signed_in: bool) -> None:
            """``signed_in``: ``user`` comes from the provider's session, not the form."""
            problem = issuer.authorization_problem(q)
            if problem:
                self._send(400, html.escape(problem).encode(), "text/html")
                return
            back = {"state": q["state"]} if "state" in q else {}
            error = issuer.authorization_error(q)
            if error is None and user is None:
                self._send(200, _form_page(q), "text/html")
                return
            if error is None and user not in issuer.users:
                self._send(200, _form_page(q, f"no account {user!r}"), "text/html")
                return
            headers: dict[str, str] = {}
            if error is None:
                back["code"] = issuer.issue_code(q, user or "")
                if not signed_in:
                    sid = issuer.start_session(user or "")
                    headers["Set-Cookie"] = f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
            else:
                back["error"] = error
            back["iss"] = issuer.url
            headers["Location"] = f"{q['redirect_uri']}?{urlencode(back)}"
            self._send(302, b"", "text/plain", headers)

        def _logout(self, q: dict[str, str]) -> None:
            target = issuer.logout_target(q)
            if target is None:
                self._send(400, b"post_logout_redirect_uri not registered", "text/plain")
                return
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    issuer.sessions.pop(value, None)
            issuer.logouts += 1
            gone = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
            self._send(302, b"", "text/plain", {"Location": target, "Set-Cookie": gone})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
