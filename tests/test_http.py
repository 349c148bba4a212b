"""The HTTP details every answer shares (twin.api.http): Accept-Encoding, Vary, HEAD, the body
limit, security headers and CORS, against the real app and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.test_features_api import seed
from tiles.build import build_all
from twin.accounts import create_user
from twin.api.http import VIEWER_CSP, accepts_coding, merge_vary
from twin.app import create_app
from twin.settings import Settings


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("gzip;q=0.001", True),
        ("deflate, gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("br, *;q=0.5", True),
        ("gzip;q=0, *", False),  # named with q=0 beats the wildcard
        ("identity", False),
        ("gzip;q=abc", False),
        ("x-gzip", False),
    ],
)
def test_accepts_coding_follows_rfc_9110(header: str | None, gzip: bool) -> None:
    assert accepts_coding(header, "gzip") is gzip


def test_merge_vary_names_each_field_once() -> None:
    assert merge_vary(["Accept-Encoding, Authorization", "accept-encoding"]) == (
        "Accept-Encoding, Authorization"
    )
    assert merge_vary(["Origin", "Accept-Encoding", " Origin "]) == "Origin, Accept-Encoding"
    assert merge_vary(["Accept-Encoding", "*"]) == "*"


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    seed(engine)
    build_all(engine, settings.tiles_dir, layer="buildings", workers=1)
    build_all(engine, settings.tiles_dir, layer="water", workers=1)
    agent = {"Authorization": f"Bearer {create_user(engine, 'anna', 'agent')}"}
    with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as c:
        yield c, agent


def _content(client: TestClient, name: str, headers: dict[str, str]) -> str:
    doc = client.get(f"/tiles/{name}/tileset.json", headers=headers).json()
    return f"/tiles/{name}/{doc['root']['content']['uri']}"


def test_gzip_q0_is_not_gzip_anywhere(world: tuple[TestClient, dict[str, str]]) -> None:
    client, agent = world
    urls = [
        "/collections/buildings/items",
        "/tiles/buildings/tileset.json",
        _content(client, "buildings", {}),
        "/openapi.json",
    ]
    for url in urls:
        r = client.get(url, headers={"Accept-Encoding": "gzip;q=0", **agent})
        assert r.status_code == 200, url
        assert "content-encoding" not in r.headers, url
        wanted = client.get(url, headers={"Accept-Encoding": "gzip", **agent})
        assert wanted.headers["content-encoding"] == "gzip", url


@pytest.mark.parametrize("encoding", ["gzip", "identity", "gzip;q=0"])
def test_tiles_answer_one_vary_header(
    world: tuple[TestClient, dict[str, str]], encoding: str
) -> None:
    client, agent = world
    for name, vary in (("buildings", "Accept-Encoding"), ("network-water", None)):
        for url in (f"/tiles/{name}/tileset.json", _content(client, name, agent)):
            r = client.get(url, headers={"Accept-Encoding": encoding, **agent})
            assert r.status_code == 200, url
            (got,) = r.headers.get_list("vary")
            assert got == (vary or "Accept-Encoding, Authorization"), url


def test_head_answers_like_get_without_a_body(world: tuple[TestClient, dict[str, str]]) -> None:
    client, agent = world
    urls = ["/", "/api/health", "/api/me", "/collections", "/tiles"]
    urls.append("/tiles/buildings/tileset.json")
    for url in urls:
        got = client.get(url, headers={"Accept-Encoding": "identity", **agent})
        head = client.head(url, headers={"Accept-Encoding": "identity", **agent})
        assert head.status_code == got.status_code == 200, url
        assert head.content == b"", url
        assert head.headers["content-type"] == got.headers["content-type"], url
        assert head.headers["content-length"] == str(len(got.content)), url
    assert client.head("/collections/networks").status_code == 401  # same rule as GET


def test_security_headers_on_every_answer(world: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = world
    answers = [
        client.get("/"),
        client.get("/", headers={"Accept": "text/html"}),
        client.get("/collections/nothing"),
        client.get("/tiles/buildings/tileset.json"),
        client.post("/collections"),
        client.get("/assets/none.js"),
    ]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY", r.url
        assert r.headers["referrer-policy"] == "same-origin", r.url
        assert r.headers["content-security-policy"] == VIEWER_CSP, r.url
    assert "frame-ancestors 'none'" in VIEWER_CSP and "script-src 'self'" in VIEWER_CSP
    docs = client.get("/docs").headers["content-security-policy"]
    assert docs != VIEWER_CSP and "frame-ancestors 'none'" in docs


def test_security_headers_on_an_unexpected_500(
    world: tuple[TestClient, dict[str, str]], engine: Engine
) -> None:
    client, _ = world
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE twin_meta RENAME TO twin_meta_gone")
    r = client.get("/api/health")
    assert r.status_code == 500 and r.headers["x-content-type-options"] == "nosniff"


def test_body_over_the_limit_is_a_413(engine: Engine, tmp_path: Path, db_url: str) -> None:
    settings = Settings(
        database_url=db_url, data_dir=tmp_path / "var", max_body_bytes=100, _env_file=None
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.post("/collections", content=b"x" * 101)
        assert r.status_code == 413
        body = r.json()
        assert (
            body["status"] == 413
            and "limit of 100 bytes (TWIN_MAX_BODY_BYTES)" in (body["description"])
        )
        # streamed without a length: refused as it arrives, whatever the route
        chunks = iter([b"x" * 60, b"x" * 60])
        assert client.post("/collections", content=chunks).status_code in (405, 413)
        assert client.post("/collections", content=b"x" * 100).status_code == 405


def test_cors_is_closed_by_default_and_opens_to_configured_origins(
    engine: Engine, tmp_path: Path, db_url: str
) -> None:
    origin = {"Origin": "https://city.example"}
    preflight = {**origin, "Access-Control-Request-Method": "GET"}
    closed = Settings(database_url=db_url, data_dir=tmp_path / "a", _env_file=None)
    with TestClient(create_app(closed, engine=engine)) as client:
        r = client.get("/collections", headers=origin)
        assert "access-control-allow-origin" not in r.headers
        r = client.options("/collections", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    opened = Settings(
        database_url=db_url,
        data_dir=tmp_path / "b",
        cors_origins="https://city.example",
        _env_file=None,
    )
    with TestClient(create_app(opened, engine=engine)) as client:
        r = client.get("/collections", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://city.example"
        (vary,) = r.headers.get_list("vary")
        assert "Origin" in vary
        ok = client.options("/collections", headers=preflight)
        assert ok.status_code == 200
        assert "Authorization" in ok.headers["access-control-allow-headers"]
        other = client.get("/collections", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
