"""OpenID Connect bearer tokens against a local issuer (tests.oidc_issuer): keys made there,
the JWKS served over HTTP; good, expired, foreign, forged and role-less tokens, key rotation, an
unreachable issuer, and a twin with OIDC off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, text

from geodata.errors import ConfigError
from tests.conftest import free_port
from tests.oidc_issuer import AUDIENCE, Issuer
from tests.test_features_api import seed
from twin import oidc
from twin.app import create_app
from twin.audit import AuditWriter
from twin.settings import Settings, get_settings


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    yield idp
    idp.close()


def _settings(db_url: str, tmp_path: Path, issuer_url: str, jwks_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "var",
        oidc_issuer=issuer_url,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=jwks_url,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def client(db_url: str, tmp_path: Path, engine: Engine, issuer: Issuer) -> Iterator[TestClient]:
    seed(engine)
    settings = _settings(db_url, tmp_path, issuer.url, f"{issuer.url}/jwks.json")
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def me(client: TestClient, token: str) -> tuple[int, dict[str, Any]]:
    r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()


def test_a_good_token_signs_in_with_its_role(
    client: TestClient, issuer: Issuer, engine: Engine
) -> None:
    token = issuer.token()
    assert me(client, token) == (
        200,
        {"name": "oidc:carla", "role": "agent", "anonymous": False, "sees": ["public", "agent"]},
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/collections/networks/items", headers=headers).status_code == 200
    citizen = {"Authorization": f"Bearer {issuer.token(twin_role='citizen')}"}
    assert client.get("/collections/networks/items", headers=citizen).status_code == 403
    assert issuer.fetches == 1  # the JWKS is kept
    writer: AuditWriter = client.app.state.audit  # type: ignore[attr-defined]
    writer.flush()
    with engine.connect() as conn:
        sign_ins = conn.execute(
            text("SELECT actor, count FROM audit_log WHERE kind = 'sign-in' ORDER BY actor")
        ).all()
    assert [tuple(r) for r in sign_ins] == [("oidc:carla", 2)]  # two tokens, once each


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": int(time.time()) - 10}, "has expired"),
        ({"aud": "another-app"}, "not for this twin"),
        ({"iss": "https://elsewhere.example"}, "not for this twin"),
        ({"twin_role": None}, "'twin_role' claim is None"),
        ({"twin_role": "wizard"}, "must give one of citizen"),
    ],
)
def test_bad_tokens_are_401_naming_the_problem(
    client: TestClient, issuer: Issuer, claims: dict[str, Any], message: str
) -> None:
    status, body = me(client, issuer.token(**claims))
    assert status == 401 and message in body["description"], body


def test_a_forged_signature_is_refused(client: TestClient, issuer: Issuer) -> None:
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    status, body = me(client, issuer.token(key=forger, twin_role="admin"))
    assert status == 401 and "refused (bad_signature)" in body["description"]


def test_rotated_issuer_keys_are_fetched_again(
    client: TestClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert me(client, issuer.token())[0] == 200
    issuer.key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
    monkeypatch.setattr(oidc, "REFETCH_AFTER", 0.0)
    assert me(client, issuer.token())[0] == 200
    assert issuer.fetches == 2


def test_unreachable_issuer_is_503(db_url: str, tmp_path: Path, engine: Engine) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = _settings(db_url, tmp_path, dead, f"{dead}/jwks.json")
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.get("/api/me", headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 503 and "TWIN_OIDC_JWKS_URL" in r.json()["description"]
    assert r.headers["retry-after"]


def test_off_by_default_and_half_settings_refused(
    settings: Settings, engine: Engine, issuer: Issuer
) -> None:
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.get("/api/me", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert r.status_code == 401 and "TWIN_OIDC_ISSUER is unset" in r.json()["description"]
    with pytest.raises(ConfigError, match="set TWIN_OIDC_AUDIENCE, TWIN_OIDC_JWKS_URL"):
        get_settings(oidc_issuer="https://id.example", _env_file=None)
