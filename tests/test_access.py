"""Roles and visibility on the Features API: 401 without a token, 403 for a role that may not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.test_features_api import seed
from twin.accounts import create_user, revoke_user
from twin.app import create_app
from twin.settings import Settings

AGENT_ONLY = ("networks", "network-water", "network-nodes", "cameras")


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    seed(engine)
    with TestClient(create_app(settings)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(client: TestClient, headers: dict[str, str] | None = None) -> set[str]:
    r = client.get("/collections", headers=headers)
    assert r.status_code == 200
    return {c["id"] for c in r.json()["collections"]}


def test_anonymous_gets_401_with_www_authenticate(client: TestClient) -> None:
    for path in (
        "/collections/networks/items",
        "/collections/networks",
        "/collections/cameras/items/2",
    ):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "twin users add" in r.json()["description"]


def test_citizen_gets_403(client: TestClient, engine: Engine) -> None:
    token = create_user(engine, "carla", "citizen")
    r = client.get("/collections/networks/items", headers=bearer(token))
    assert r.status_code == 403
    assert "your role is citizen" in r.json()["description"]
    assert client.get("/collections/buildings/items", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("role", ["agent", "planner", "operator", "admin"])
def test_agent_roles_get_200(client: TestClient, engine: Engine, role: str) -> None:
    token = create_user(engine, f"someone-{role}", role)
    r = client.get("/collections/networks/items", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["numberMatched"] == 2


def test_collections_list_networks_only_for_agents(client: TestClient, engine: Engine) -> None:
    anonymous = listed(client)
    citizen = listed(client, bearer(create_user(engine, "carla", "citizen")))
    agent = listed(client, bearer(create_user(engine, "anna", "agent")))
    assert "buildings" in anonymous and "furniture" in anonymous
    assert anonymous == citizen
    assert not anonymous & set(AGENT_ONLY)
    assert set(AGENT_ONLY) <= agent
    assert anonymous < agent


def test_revoked_token_is_401(client: TestClient, engine: Engine) -> None:
    token = create_user(engine, "leaver", "agent")
    assert client.get("/collections/networks/items", headers=bearer(token)).status_code == 200
    revoke_user(engine, "leaver")
    r = client.get("/collections/networks/items", headers=bearer(token))
    assert r.status_code == 401
    assert "revoked" in r.json()["description"]
    # even public routes refuse a dead token rather than silently downgrading to anonymous
    assert client.get("/collections", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("token", ["nonsense", "twin_only-two", "twin__secret", "bearer-less"])
def test_malformed_token_is_401(client: TestClient, token: str) -> None:
    r = client.get("/collections/buildings/items", headers=bearer(token))
    assert r.status_code == 401
    assert "malformed token" in r.json()["description"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_wrong_secret_is_401(client: TestClient, engine: Engine) -> None:
    token = create_user(engine, "anna", "agent")
    forged = token.rsplit("_", 1)[0] + "_not-the-secret"
    r = client.get("/collections/networks/items", headers=bearer(forged))
    assert r.status_code == 401
