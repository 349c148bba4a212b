"""The viewer's OpenID Connect sign-in, server side: the public discovery route, the CSP that
lets the viewer reach the issuer (and nothing else), the settings that refuse half a
configuration, and the test issuer's code + PKCE grant, whose checks must really refuse (the
browser test in test_viewer_browser relies on them)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import (
    HTTPCookieProcessor,
    HTTPRedirectHandler,
    OpenerDirector,
    Request,
    build_opener,
    urlopen,
)

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.errors import ConfigError
from tests.oidc_issuer import AUDIENCE, Issuer, s256
from twin.api.http import viewer_csp
from twin.api.signin import SignInConfig, sign_in_config
from twin.app import create_app
from twin.settings import Settings, get_settings

CLIENT = "twin-viewer"
REDIRECT = "http://127.0.0.1:9/"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    idp.register(CLIENT, REDIRECT)
    yield idp
    idp.close()


def _settings(db_url: str, tmp_path: Path, issuer: Issuer, **extra: Any) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "var",
        oidc_issuer=issuer.url,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=f"{issuer.url}/jwks.json",
        _env_file=None,  # type: ignore[call-arg]
        **extra,
    )


# -- the discovery route ---------------------------------------------------------------
def test_config_names_issuer_client_and_scopes(
    db_url: str, tmp_path: Path, engine: Engine, issuer: Issuer
) -> None:
    settings = _settings(db_url, tmp_path, issuer, oidc_client_id=CLIENT)
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.get("/api/auth/config", headers={"Authorization": "Bearer not-even-a-token"})
        viewer = c.get("/")
    assert r.status_code == 200  # public: it reads no caller, a bad token does not matter
    assert r.json() == {
        "issuer": issuer.url,
        "client_id": CLIENT,
        "scopes": ["openid", "profile"],
        "role_claim": "twin_role",
    }
    csp = viewer.headers["content-security-policy"]
    assert f"connect-src 'self' data: blob: {issuer.url};" in csp
    assert "*" not in csp


def test_config_is_null_without_a_client_id_and_when_oidc_is_off(
    db_url: str, tmp_path: Path, engine: Engine, issuer: Issuer, settings: Settings
) -> None:
    # an issuer alone: its tokens are accepted (CLI, services), the viewer offers pasting only
    with TestClient(create_app(_settings(db_url, tmp_path, issuer), engine=engine)) as c:
        assert c.get("/api/auth/config").json() is None
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.get("/api/auth/config")
        csp = c.get("/").headers["content-security-policy"]
    assert r.status_code == 200 and r.json() is None
    assert "connect-src 'self' data: blob:;" in csp


def test_sign_in_config_is_a_plain_function() -> None:
    base = {"_env_file": None, "oidc_audience": "a", "oidc_jwks_url": "https://id.example/k"}
    on = get_settings(oidc_issuer="https://id.example/realms/city", oidc_client_id="v", **base)
    assert sign_in_config(on) == SignInConfig(
        issuer="https://id.example/realms/city",
        client_id="v",
        scopes=["openid", "profile"],
        role_claim="twin_role",
    )
    assert on.oidc_origin == "https://id.example"  # the CSP names the origin, not the realm
    assert sign_in_config(get_settings(_env_file=None)) is None
    assert viewer_csp("https://id.example").count("https://id.example") == 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"oidc_client_id": "v"}, "TWIN_OIDC_CLIENT_ID is set but TWIN_OIDC_ISSUER is not"),
        (
            {"oidc_issuer": "https://id.example", "oidc_client_id": "v", "oidc_scopes": "profile"},
            "it must contain openid",
        ),
        ({"oidc_issuer": "id.example"}, "is not a URL"),
    ],
)
def test_half_a_sign_in_configuration_is_refused(given: dict[str, str], message: str) -> None:
    full = {"oidc_audience": "a", "oidc_jwks_url": "https://id.example/k"}
    if "oidc_issuer" not in given:
        full = {}
    with pytest.raises(ConfigError, match=message):
        get_settings(_env_file=None, **full, **given)


# -- the test issuer's grant: real checks ----------------------------------------------
class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _request(challenge: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def _redirected(opener: OpenerDirector, url: str, body: bytes | None = None) -> str:
    """Where the issuer sends the browser (it must redirect)."""
    with pytest.raises(HTTPError) as answer:
        opener.open(url, body)
    assert answer.value.code == 302, answer.value.read()
    location: str = answer.value.headers["Location"]
    return location


def _authorize(
    issuer: Issuer, challenge: str, user: str = "carla", opener: OpenerDirector | None = None
) -> dict[str, str]:
    """Sign ``user`` in at the authorization endpoint; the redirect's query parameters."""
    form = {**_request(challenge), "username": user}
    location = _redirected(
        opener or build_opener(_NoRedirect), f"{issuer.url}/authorize", urlencode(form).encode()
    )
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _token(issuer: Issuer, **form: str) -> tuple[int, dict[str, Any]]:
    request = Request(f"{issuer.url}/token", urlencode(form).encode())
    try:
        with urlopen(request) as answer:
            return answer.status, json.load(answer)
    except HTTPError as exc:
        return exc.code, json.load(exc)


def test_code_and_pkce_give_a_token_the_twin_accepts(
    db_url: str, tmp_path: Path, engine: Engine, issuer: Issuer
) -> None:
    verifier = secrets.token_urlsafe(48)
    back = _authorize(issuer, s256(verifier))
    assert back["state"] == "s-1" and back["iss"] == issuer.url
    grant = {"client_id": CLIENT, "redirect_uri": REDIRECT, "code": back["code"]}
    status, tokens = _token(
        issuer, grant_type="authorization_code", code_verifier=verifier, **grant
    )
    assert status == 200 and tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    id_claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    assert id_claims["nonce"] == "n-1" and id_claims["aud"] == CLIENT
    settings = _settings(db_url, tmp_path, issuer, oidc_client_id=CLIENT)
    with TestClient(create_app(settings, engine=engine)) as c:
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert c.get("/api/me", headers=bearer).json()["role"] == "agent"
        # the ID token is for the viewer (aud = client id), not a bearer for the twin
        r = c.get("/api/me", headers={"Authorization": f"Bearer {tokens['id_token']}"})
        assert r.status_code == 401 and "not for this twin" in r.json()["description"]
    # the code worked once
    status, body = _token(issuer, grant_type="authorization_code", code_verifier=verifier, **grant)
    assert (status, body["error"]) == (400, "invalid_grant"), body


def test_a_wrong_verifier_is_refused(issuer: Issuer) -> None:
    verifier = secrets.token_urlsafe(48)
    back = _authorize(issuer, s256(verifier))
    grant = {"client_id": CLIENT, "redirect_uri": REDIRECT, "code": back["code"]}
    status, body = _token(
        issuer, grant_type="authorization_code", code_verifier=verifier + "x", **grant
    )
    assert status == 400 and body["error"] == "invalid_grant"
    assert "PKCE" in body["error_description"]
    # and the code is spent: the right verifier after a wrong one gets nothing either
    status, _ = _token(issuer, grant_type="authorization_code", code_verifier=verifier, **grant)
    assert status == 400


def test_refresh_tokens_rotate(issuer: Issuer) -> None:
    verifier = secrets.token_urlsafe(48)
    back = _authorize(issuer, s256(verifier))
    _, tokens = _token(
        issuer,
        grant_type="authorization_code",
        code_verifier=verifier,
        client_id=CLIENT,
        redirect_uri=REDIRECT,
        code=back["code"],
    )
    refresh = {"grant_type": "refresh_token", "client_id": CLIENT}
    status, fresh = _token(issuer, refresh_token=tokens["refresh_token"], **refresh)
    assert status == 200 and fresh["refresh_token"] != tokens["refresh_token"]
    assert _token(issuer, refresh_token=tokens["refresh_token"], **refresh)[0] == 400


def test_an_unregistered_redirect_uri_is_never_redirected_to(issuer: Issuer) -> None:
    query = urlencode({"client_id": CLIENT, "redirect_uri": "https://evil.example/"})
    with pytest.raises(HTTPError) as answer:
        urlopen(f"{issuer.url}/authorize?{query}")
    assert answer.value.code == 400


def test_the_provider_session_signs_in_silently_until_logout(issuer: Issuer) -> None:
    browser = build_opener(_NoRedirect, HTTPCookieProcessor(CookieJar()))
    _authorize(issuer, s256("v" * 43), opener=browser)
    again = f"{issuer.url}/authorize?{urlencode(_request(s256('w' * 43)))}"
    assert "code=" in _redirected(browser, again)  # no form: the provider knows the browser
    out = {"client_id": CLIENT, "post_logout_redirect_uri": REDIRECT, "state": "bye"}
    assert _redirected(browser, f"{issuer.url}/logout?{urlencode(out)}") == f"{REDIRECT}?state=bye"
    with browser.open(again) as form:  # the session ended: the form again
        assert form.status == 200 and b'id="username"' in form.read()
    elsewhere = {**out, "post_logout_redirect_uri": "https://evil.example/"}
    with pytest.raises(HTTPError) as refused:
        browser.open(f"{issuer.url}/logout?{urlencode(elsewhere)}")
    assert refused.value.code == 400 and issuer.logouts == 1
