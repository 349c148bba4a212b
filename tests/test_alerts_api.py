"""The alerts and rules routes with a rule that really fired: filters, ack and resolve by
people (audited, announced), the rule's own resolution after a person's, rule files posted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geodata.working_crs import set_working_crs
from tests.rules_support import add_device, apply, rules_settings, rules_writer, send
from twin.accounts import create_user
from twin.app import create_app
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

RULE = "- {name: co2, metric: co2, raise: 1000, clear: 800, severity: major, where: {type: co2}}"


@pytest.fixture
def client(
    settings: Settings, engine: Engine, mqtt_broker: EmbeddedMosquitto
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    rs = rules_settings(settings, mqtt_broker.url)
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    add_device(engine, "c1")
    add_device(engine, "c2")
    with engine.begin() as conn:  # c1 in Helsinki's centre, c2 far away
        conn.execute(
            text(
                "UPDATE devices SET geom = ST_Transform(ST_SetSRID(ST_MakePoint("
                "CASE id WHEN 'c1' THEN 24.94 ELSE 27.0 END, 60.17, 0), 4326), 3067)"
            )
        )
    apply(engine, RULE)
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1200, 0)
        send(writer, "c2", "co2", 1300, 0)
    headers = {
        role: {"Authorization": f"Bearer {create_user(engine, f'u-{role}', role)}"}
        for role in ("agent", "operator", "admin", "planner")
    }
    with TestClient(create_app(rs, engine=engine)) as c:
        yield c, headers


def test_filters(client: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    c, _ = client
    every = c.get("/api/alerts").json()
    assert {a["device_id"] for a in every} == {"c1", "c2"}
    a1 = next(a for a in every if a["device_id"] == "c1")
    assert (a1["rule"], a1["state"], a1["severity"], a1["value"]) == ("co2", "open", "major", 1200)
    assert abs(a1["lon"] - 24.94) < 1e-6 and abs(a1["lat"] - 60.17) < 1e-6
    near = c.get("/api/alerts?bbox=24.9,60.1,25.0,60.2").json()
    assert [a["device_id"] for a in near] == ["c1"]
    assert [a["device_id"] for a in c.get("/api/alerts?device=c2").json()] == ["c2"]
    assert c.get("/api/alerts?severity=critical").json() == []
    assert len(c.get("/api/alerts?state=open").json()) == 2
    bad = c.get("/api/alerts?state=closed")
    assert bad.status_code == 400 and "open, acknowledged, resolved" in bad.json()["description"]
    assert c.get("/api/alerts?bbox=25,60,24,61").status_code == 400


def test_ack_then_resolve_are_audited(
    client: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine
) -> None:
    c, h = client
    (alert,) = c.get("/api/alerts?device=c1").json()
    assert c.post(f"/api/alerts/{alert['id']}/ack", headers=h["planner"]).status_code == 403
    acked = c.post(f"/api/alerts/{alert['id']}/ack", headers=h["agent"]).json()
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "u-agent")
    again = c.post(f"/api/alerts/{alert['id']}/ack", headers=h["operator"])
    assert again.status_code == 409 and "acknowledged" in again.json()["description"]
    done = c.post(f"/api/alerts/{alert['id']}/resolve", headers=h["operator"]).json()
    assert (done["state"], done["resolved_by"]) == ("resolved", "u-operator")
    assert c.post(f"/api/alerts/{alert['id']}/resolve", headers=h["admin"]).status_code == 409
    anonymous = c.get(f"/api/alerts/{alert['id']}").json()
    assert anonymous["acknowledged_by"] is None and anonymous["state"] == "resolved"
    with engine.connect() as conn:
        log = conn.execute(
            text(
                "SELECT actor, detail->>'change', at FROM audit_log WHERE kind = 'alert' "
                "ORDER BY id"
            )
        ).all()
        queued = (
            conn.execute(
                text(
                    "SELECT payload->>'state' FROM rule_outbox "
                    "WHERE target = 'twin/live/alert/c1' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert [(r[0], r[1]) for r in log] == [("u-agent", "ack"), ("u-operator", "resolve")]
    assert all(r[2] is not None for r in log)
    assert queued == ["open", "acknowledged", "resolved"]


def test_rules_routes(client: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine) -> None:
    c, h = client
    (rule,) = c.get("/api/rules", headers=h["operator"]).json()
    assert (rule["name"], rule["metric"], rule["raise"], rule["clear"], rule["for"]) == (
        "co2",
        "co2",
        1000,
        800,
        0,
    )
    assert rule["where"]["type"] == ["co2"] and rule["states"]["firing"] == 2
    one = c.get("/api/rules/co2", headers=h["operator"]).json()
    assert {s["device_id"]: s["state"] for s in one["state"]} == {"c1": "firing", "c2": "firing"}
    assert c.get("/api/rules/nope", headers=h["operator"]).status_code == 404
    bad = c.post(
        "/api/rules", content=b"- name: x\n  metric: co2\n  raise: high\n", headers=h["admin"]
    )
    assert bad.status_code == 400
    assert "the request body line 3, [0].raise" in bad.json()["description"]
    posted = c.post(
        "/api/rules", content=RULE.replace("major", "critical").encode(), headers=h["admin"]
    )
    assert posted.json()["changed"] == ["co2"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rule_states")).scalar_one() == 0  # reset
        assert (
            conn.execute(text("SELECT count(*) FROM audit_log WHERE kind = 'rule'")).scalar_one()
            == 2
        )
