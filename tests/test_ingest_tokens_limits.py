"""Rate limits on ingest and per-device tokens, through the real CLI, app and PostGIS.

Decided (and documented in ARCHITECTURE): a request over a rate is a 429 with Retry-After,
counted ``rate_limited`` in ``/api/ingest/stats`` and never a dead letter (the sender was told
to send it again); a body no window could take is a 413 and a dead letter; a device token's
body naming another device is a 403 for the whole body and one dead letter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.vocab import ROLES
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    return settings


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _token(*args: str) -> str:
    got = _run("tokens", "add", *args)
    assert got.exit_code == 0, got.output
    return str(got.stdout.strip().splitlines()[-1])


def _client(settings: Settings, engine: Engine, **limits: str) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=limits), engine=engine))


def _body(*devices: str, minutes: float = -1) -> bytes:
    at = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    return json.dumps(
        [{"device": d, "metric": "temp", "value": 20 + i, "at": at} for i, d in enumerate(devices)]
    ).encode()


def _post(c: TestClient, token: str | None, body: bytes, path: str = "/api/ingest") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return c.post(path, content=body, headers=headers)


def _dead(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT reason FROM dead_letters ORDER BY id")).scalars())


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())


@pytest.fixture
def sensor(env: Settings, engine: Engine) -> str:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (id, protocol, type) VALUES ('s1', 'http', 't')"))
    return "s1"


def _integration(engine: Engine, name: str) -> str:
    """An integration token without the CLI (which the device-token test drives)."""
    return create_user(engine, name, "citizen", kind="integration")


def test_requests_over_the_rate_are_429_counted_and_not_kept(env: Settings, engine: Engine) -> None:
    token = _integration(engine, "platform")
    with _client(env, engine, ingest_requests_per_token="2/minute") as c:
        assert [_post(c, token, _body("t1", minutes=-i)).status_code for i in (1, 2)] == [200, 200]
        r = _post(c, token, _body("t1", minutes=-3))
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "over 2 requests per minute" in r.json()["description"]
        other = _integration(engine, "other")  # the rate is per token
        assert _post(c, other, _body("t2")).status_code == 200
        admin = {"Authorization": f"Bearer {create_user(engine, 'root', 'admin')}"}
        stats = c.get("/api/ingest/stats", headers=admin).json()["adapters"]["http"]
    assert stats["rate_limited"] == 1 and stats["accepted"] == 3
    assert _dead(engine) == [] and _stored(engine) == 3


def test_observations_over_the_rate(env: Settings, engine: Engine) -> None:
    token = _integration(engine, "platform")
    with _client(env, engine, ingest_observations_per_token="5/minute") as c:
        too_big = _post(c, token, _body(*[f"d{i}" for i in range(6)]))
        assert too_big.status_code == 413 and "more than the 5" in too_big.text
        assert _post(c, token, _body("a", "b", "c")).status_code == 200
        r = _post(c, token, _body("d", "e", "f"))
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert _post(c, token, _body("g", "h")).status_code == 200  # what is left fits
    assert _dead(engine) == ["over_rate"] and _stored(engine) == 5


def test_a_device_token_writes_its_own_device_only(
    env: Settings, engine: Engine, sensor: str
) -> None:
    missing = _run("tokens", "add", "--device", "nope")
    assert missing.exit_code == 1 and "no device 'nope'" in missing.output
    assert "give one of" in _run("tokens", "add").output
    token = _token("--device", sensor)
    integration = _integration(engine, "platform")
    with _client(env, engine) as c:
        assert _post(c, token, _body(sensor)).status_code == 200
        r = _post(c, token, _body(sensor, "s2", minutes=-2))
        assert r.status_code == 403, r.text
        assert "device 's1' only" in r.json()["description"] and "'s2'" in r.text
        assert _post(c, integration, _body("s2", "s3")).status_code == 200  # any device
        tts = _post(c, token, b"{}", "/api/ingest/tts")
        assert tts.status_code == 403 and "integration token" in tts.text
        assert (
            c.get("/api/ingest/stats", headers={"Authorization": f"Bearer {token}"}).status_code
            == 403
        )
        revoked = _run("users", "revoke", f"device:{sensor}")
        assert revoked.exit_code == 0, revoked.output
        assert _post(c, token, _body(sensor, minutes=-3)).status_code == 401
    assert _dead(engine) == ["device_not_allowed"]
    assert _stored(engine) == 3  # one of s1, two from the integration; the mixed body: none


@pytest.fixture
def ingest_client(env: Settings, engine: Engine) -> Iterator[TestClient]:
    with _client(env, engine) as c:
        yield c


def test_who_may_post_observations(ingest_client: TestClient, engine: Engine, sensor: str) -> None:
    """Every principal against the rule written out: integrations and admins write any
    device, a device token its own, accounts of other roles may not, anonymous must sign in."""
    tokens: dict[str, str | None] = {"anonymous": None}
    for role in ROLES:
        tokens[role] = create_user(engine, f"u-{role}", role)
    tokens["integration"] = _integration(engine, "platform")
    tokens["device"] = create_user(engine, "device:s1", "citizen", kind="device", device_id=sensor)
    want = {"anonymous": 401, **{r: 403 for r in ROLES}, "admin": 200, "integration": 200}
    for n, (who, token) in enumerate(tokens.items()):
        body = _body(sensor, minutes=-n)
        expected = 200 if who == "device" else want[who]
        assert _post(ingest_client, token, body).status_code == expected, who
