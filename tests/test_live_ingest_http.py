"""``POST /api/ingest`` end to end: integration tokens from the real CLI, the real app and the
embedded PostGIS; every refused body leaves a dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small, engine=engine)) as c:
        yield c


@pytest.fixture
def token(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    got = CliRunner().invoke(cli, ["tokens", "add", "--integration", "city-platform"])
    assert got.exit_code == 0, got.output
    return got.stdout.strip().splitlines()[-1]


def now_iso(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def post(client: TestClient, token: str, body: bytes, ctype: str = "application/json") -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    return client.post("/api/ingest", content=body, headers=headers)


def dead(engine: Engine) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT reason, raw FROM dead_letters ORDER BY id")).all()
    return [(r, bytes(b)) for r, b in rows]


def test_one_object_an_array_and_ndjson(client: TestClient, token: str, engine: Engine) -> None:
    one = f'{{"device": "t1", "metric": "temp", "value": 20.5, "at": "{now_iso(-3)}"}}'
    r = post(client, token, one.encode())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and r.json()["quarantined"] == ["t1"]
    arr = f'[{{"device": "t1", "metric": "temp", "value": 21, "at": "{now_iso(-2)}"}}, {one}]'
    r = post(client, token, arr.encode())
    assert (r.json()["accepted"], r.json()["duplicate"]) == (1, 1)
    nd = (
        f'{{"device": "t1", "metric": "temp", "value": 22, "at": "{now_iso(-1)}"}}\n'
        '{"device": "t1", "metric": "temp", "value": "hot"}\n'
    )
    r = post(client, token, nd.encode(), "application/x-ndjson")
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [x["reason"] for x in r.json()["rejected"]] == ["non_numeric"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar_one() == 3
        assert conn.execute(text("SELECT value FROM latest_state")).scalar_one() == 22
    assert [reason for reason, _ in dead(engine)] == ["non_numeric"]


def test_a_duplicate_alone_is_answered_2xx(client: TestClient, token: str) -> None:
    one = f'{{"device": "t1", "metric": "temp", "value": 1, "at": "{now_iso(-1)}"}}'.encode()
    assert post(client, token, one).json()["accepted"] == 1
    again = post(client, token, one)
    assert again.status_code == 200 and again.json()["duplicate"] == 1


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "empty"),
        (b'{"device": "t1", "metric": "temp", "value": NaN}', 400, "malformed_json"),
        (b'{"device": "t1", "metric": "temp", "value": "x"}', 422, "non_numeric"),
        (b'{"device": "t1", "value": 1}', 422, "missing_field"),
        (b"x" * 5000, 413, "oversize"),
    ],
)
def test_refused_bodies_say_why_and_leave_a_dead_letter(
    client: TestClient, token: str, engine: Engine, body: bytes, status: int, reason: str
) -> None:
    r = post(client, token, body)
    assert r.status_code == status, r.text
    assert r.json()["description"]
    letters = dead(engine)
    assert [x for x, _ in letters] == [reason]
    assert letters[0][1] == body[: 64 * 1024] or reason == "oversize"
    if reason == "oversize":
        assert letters[0][1] == body[:4097]


def test_future_times_are_refused(client: TestClient, token: str, engine: Engine) -> None:
    body = f'{{"device": "t1", "metric": "temp", "value": 1, "at": "{now_iso(6)}"}}'
    r = post(client, token, body.encode())
    assert r.status_code == 422 and r.json()["rejected"][0]["reason"] == "future"


def test_who_may_ingest(client: TestClient, engine: Engine, token: str) -> None:
    body = b'{"device": "t1", "metric": "temp", "value": 1}'
    assert client.post("/api/ingest", content=body).status_code == 401
    operator = create_user(engine, "op", "operator")
    admin = create_user(engine, "boss", "admin")
    h = {"Authorization": f"Bearer {operator}"}
    assert client.post("/api/ingest", content=body, headers=h).status_code == 403
    assert post(client, admin, body).status_code == 200
    assert client.get("/api/ingest/stats", headers=h).status_code == 200
    bad = post(client, token, b"[1]")
    assert bad.status_code == 422
    stats = client.get("/api/ingest/stats", headers=h).json()["adapters"]["http"]
    assert stats == {"accepted": 1, "duplicate": 0, "rejected": {"not_an_object": 1}}
    assert client.get("/api/ingest/stats").status_code == 401
    integration = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/ingest/stats", headers=integration).status_code == 403
