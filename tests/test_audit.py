"""The audit log: what is recorded (sign-ins, refusals, account changes, exports, reads of
non-public data; never a secret), ``GET /api/audit`` through the role matrix, its filters
and pages, and the writer's promise: no request waits for it or fails because of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from geodata.db import make_engine
from tests.conftest import free_port
from tests.test_access_matrix import PRINCIPALS, refused
from tests.test_features_api import seed
from twin.accounts import create_user, revoke_user, rotate_user
from twin.app import create_app
from twin.audit import AuditWriter, parse_since
from twin.settings import Settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    seed(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flush(client: TestClient) -> None:
    writer: AuditWriter = client.app.state.audit  # type: ignore[attr-defined]
    writer.flush()


def entries(client: TestClient, admin: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/audit", headers=bearer(admin), params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["entries"]
    return found


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_audit_route_is_for_admins_only(client: TestClient, engine: Engine, principal: str) -> None:
    headers = {} if principal == "anonymous" else bearer(create_user(engine, "u", principal))
    r = client.get("/api/audit", headers=headers)
    assert r.status_code == (200 if principal == "admin" else refused(principal)), r.text
    if principal != "admin":
        assert "admin account" in r.json()["description"]


def test_what_is_recorded_and_never_a_secret(client: TestClient, engine: Engine) -> None:
    admin = create_user(engine, "root", "admin")
    anna = create_user(engine, "anna", "agent")
    assert client.get("/api/me", headers=bearer(anna)).status_code == 200
    for _ in range(3):  # one sign-in per cache period, however many requests
        assert client.get("/collections/networks/items", headers=bearer(anna)).status_code == 200
    assert client.get("/collections/networks", headers=bearer(anna)).status_code == 200
    forged = anna.rsplit("_", 1)[0] + "_wrong"
    assert client.get("/api/me", headers=bearer(forged)).status_code == 401
    assert client.get("/api/me", headers=bearer("twin_0123456789ab_x")).status_code == 401
    anonymous_public = client.get("/collections/buildings/items")
    assert anonymous_public.status_code == 200
    new = rotate_user(engine, "anna")
    flush(client)

    token_id = anna.split("_")[1]
    sign_ins = entries(client, admin, kind="sign-in", actor="anna")
    assert [e["detail"]["token_id"] for e in sign_ins] == [token_id]
    assert sign_ins[0]["client"] == "testclient"
    exports = entries(client, admin, kind="export", actor="anna")
    assert [(e["target"], e["count"]) for e in exports] == [("collection networks", 3)]
    reads = entries(client, admin, kind="read", actor="anna")
    assert [(e["target"], e["detail"]["visibility"]) for e in reads] == [
        ("collection networks", "agent")
    ]
    failed = {
        e["actor"]: e["detail"]["reason"] for e in entries(client, admin, kind="sign-in-failed")
    }
    assert failed == {"anna": "wrong secret", "token 0123456789ab": "unknown token id"}
    changes = [e["detail"]["change"] for e in entries(client, admin, kind="account", actor="cli")]
    assert changes == ["rotate", "add", "add"]  # newest first
    assert not entries(client, admin, actor="anonymous")  # public reads are not logged
    with engine.connect() as conn:
        everything = conn.execute(text("SELECT string_agg(audit_log::text, ' ') FROM audit_log"))
        dump = everything.scalar_one()
    for token in (admin, anna, new):
        assert token.rsplit("_", 1)[1] not in dump


def test_a_request_never_writes_the_log_itself(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    anna = create_user(engine, "anna", "agent")
    writes: list[str] = []

    def spy(_c: object, _cur: object, statement: str, *_: object) -> None:
        if "audit_log" in statement:
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        for path in ("/api/me", "/collections/networks/items", "/collections/buildings/items"):
            assert client.get(path, headers=bearer(anna)).status_code == 200
        assert client.get("/collections/buildings/items").status_code == 200
        assert client.get("/api/me", headers=bearer(anna[:-3] + "xyz")).status_code == 401
        assert writes == []
        flush(client)
        assert len(writes) == 1  # one statement for the whole batch
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def test_filters_pages_and_clear_errors(client: TestClient, engine: Engine) -> None:
    admin = create_user(engine, "root", "admin")
    for i in range(5):
        create_user(engine, f"user{i}", "citizen")
    revoke_user(engine, "user0")
    first = client.get("/api/audit", headers=bearer(admin), params={"kind": "account", "limit": 4})
    page = first.json()
    assert len(page["entries"]) == 4 and "offset=4" in page["next"]
    rest = client.get(page["next"], headers=bearer(admin)).json()
    assert len(rest["entries"]) == 3 and "next" not in rest
    assert {e["id"] for e in page["entries"]}.isdisjoint(e["id"] for e in rest["entries"])
    assert entries(client, admin, since="1h", kind="account")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert entries(client, admin, since=future) == []
    bad_kind = client.get("/api/audit", headers=bearer(admin), params={"kind": "logins"})
    assert bad_kind.status_code == 400 and "choose one of sign-in" in bad_kind.json()["description"]
    bad_since = client.get("/api/audit", headers=bearer(admin), params={"since": "yesterday"})
    assert bad_since.status_code == 400 and "30m, 12h, 7d" in bad_since.json()["description"]
    bad_limit = client.get("/api/audit", headers=bearer(admin), params={"limit": 0})
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["description"]


def test_writer_coalesces_and_survives_a_dead_database(engine: Engine) -> None:
    writer = AuditWriter(engine)
    for _ in range(5):
        writer.add("read", "anna", "tileset network-water", {"visibility": "agent"}, "10.0.0.1")
    writer.add("read", "anna", "tileset network-gas", {"visibility": "agent"}, "10.0.0.1")
    assert writer.flush() == 2
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT target, count FROM audit_log")).all())
    assert counts == {"tileset network-water": 5, "tileset network-gas": 1}

    dead = make_engine(f"postgresql+psycopg://twin@127.0.0.1:{free_port()}/none")
    broken = AuditWriter(dead)
    broken.add("read", "anna", "x")
    broken.add("no-such-kind", "anna", "x")  # a programming error is logged, not raised
    assert broken.flush() == 0  # logged and dropped, never raised
    dead.dispose()


def test_parse_since() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-30", now) == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30T10:00:00+02:00", now).utcoffset() == timedelta(hours=2)
