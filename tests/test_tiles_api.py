"""Serving tilesets: listing by visibility, strong ETags and 304s, gzip, access control."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.test_tiles_support import helsinki
from tiles import synthetic
from tiles.build import build_all
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

__all__ = ["helsinki"]


@pytest.fixture
def served(helsinki: Engine, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 300)
        synthetic.insert_network(conn, "water", 40)
    build_all(helsinki, settings.tiles_dir, layer="buildings")
    build_all(helsinki, settings.tiles_dir, layer="water")
    tokens = {role: create_user(helsinki, f"u-{role}", role) for role in ("agent", "citizen")}
    with TestClient(create_app(settings, engine=helsinki)) as client:
        yield client, tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _first_content(client: TestClient, name: str, headers: dict[str, str]) -> str:
    doc = client.get(f"/tiles/{name}/tileset.json", headers=headers).json()
    return doc["root"]["content"]["uri"]


def test_list_shows_only_what_the_caller_may_see(served) -> None:  # type: ignore[no-untyped-def]
    client, tokens = served
    anon = client.get("/tiles").json()["tilesets"]
    assert [t["name"] for t in anon] == ["buildings"]
    (b,) = anon
    assert b["visibility"] == "public" and b["url"] == "/tiles/buildings/tileset.json"
    assert b["features"] == 300 and b["bytes"] > 0 and b["built_at"]
    agent = client.get("/tiles", headers=_auth(tokens["agent"])).json()["tilesets"]
    assert {t["name"]: t["visibility"] for t in agent} == {
        "buildings": "public",
        "network-water": "agent",
    }
    citizen = client.get("/tiles", headers=_auth(tokens["citizen"])).json()["tilesets"]
    assert [t["name"] for t in citizen] == ["buildings"]


def test_tileset_json_has_a_strong_etag_revalidates_and_is_gzipped(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    r = client.get("/tiles/buildings/tileset.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("application/json")
    assert "no-cache" in r.headers["cache-control"] and "public" in r.headers["cache-control"]
    tag = r.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert r.json()["asset"]["version"] == "1.1"
    again = client.get(
        "/tiles/buildings/tileset.json", headers={"Accept-Encoding": "gzip", "If-None-Match": tag}
    )
    assert again.status_code == 304 and again.headers["etag"] == tag and not again.content
    plain = client.get("/tiles/buildings/tileset.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["etag"] != tag
    assert orjson.loads(plain.content) == r.json()


def test_content_files_are_immutable_with_etags(served, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    uri = _first_content(client, "buildings", {})
    r = client.get(f"/tiles/buildings/{uri}", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.headers["content-type"] == "model/gltf-binary"
    assert r.content[:4] == b"glTF"
    assert "immutable" in r.headers["cache-control"]
    assert r.content == (settings.tiles_dir / "buildings" / uri).read_bytes()
    tag = r.headers["etag"]
    assert (
        client.get(
            f"/tiles/buildings/{uri}",
            headers={"If-None-Match": f'"other", {tag}', "Accept-Encoding": "identity"},
        ).status_code
        == 304
    )
    gz = client.get(f"/tiles/buildings/{uri}", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == r.content
    assert gz.headers["etag"] != tag


def test_network_tiles_are_agent_only_down_to_every_file(served) -> None:  # type: ignore[no-untyped-def]
    client, tokens = served
    agent = _auth(tokens["agent"])
    uri = _first_content(client, "network-water", agent)
    for path in ("tileset.json", uri):
        url = f"/tiles/network-water/{path}"
        anon = client.get(url)
        assert anon.status_code == 401 and "token" in anon.json()["description"]
        assert anon.headers["www-authenticate"].startswith("Bearer")
        assert client.get(url, headers=_auth(tokens["citizen"])).status_code == 403
        ok = client.get(url, headers=agent)
        assert ok.status_code == 200
        assert "private" in ok.headers["cache-control"]
        assert "Authorization" in ok.headers["vary"]


def test_unknown_files_and_escapes_are_not_found(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    assert client.get("/tiles/castles/tileset.json").status_code == 404
    assert client.get("/tiles/buildings/content/nope.glb").status_code == 404
    assert client.get("/tiles/buildings/build.json").status_code == 404
    assert client.get("/tiles/buildings/.lock").status_code == 404
    assert client.get("/tiles/buildings/..%2F..%2Fpg%2Fpostgresql.conf").status_code == 404


def test_unchanged_tiles_keep_their_etag_after_a_rebuild(
    served,
    helsinki: Engine,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    client, _ = served
    doc = client.get("/tiles/buildings/tileset.json").json()
    uris = [doc["root"]["content"]["uri"]] + [
        c["content"]["uri"] for c in doc["root"].get("children", [])
    ]
    before = {u: client.get(f"/tiles/buildings/{u}").headers["etag"] for u in uris}
    with helsinki.begin() as conn:
        conn.execute(text("UPDATE buildings SET name = 'Renamed' WHERE source_id = '150'"))
    (report,) = build_all(helsinki, settings.tiles_dir, layer="buildings")
    assert report.written == 1
    new = client.get("/tiles/buildings/tileset.json").json()
    new_uris = [new["root"]["content"]["uri"]] + [
        c["content"]["uri"] for c in new["root"].get("children", [])
    ]
    kept = set(uris) & set(new_uris)
    assert len(kept) >= len(uris) - 1
    for u in kept:
        assert client.get(f"/tiles/buildings/{u}").headers["etag"] == before[u]
    assert gzip.decompress((settings.tiles_dir / "buildings" / "tileset.json.gz").read_bytes())
