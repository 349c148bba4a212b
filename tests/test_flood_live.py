"""A gauge rule with a ``flood`` action: when it fires, the flood for that gauge runs after
the commit and its extent is published on the real broker (``twin/live/flood/{device}``),
for the live hub to stream to the sessions watching the gauge; a gauge the flood cannot use
publishes the reason instead of retrying."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from tests.flood_support import add_gauge, bowl_scene
from tests.rules_support import apply, listening, outbox_rows, rules_settings, rules_writer, send
from twin.rules.parse import parse_rules
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

RULE = """
- name: flood-watch
  metric: stage_m
  raise: 2.0
  clear: 1.0
  actions:
    - alert
    - flood: {connectivity: 4}
"""


@pytest.fixture
def heard(mqtt_broker: EmbeddedMosquitto) -> Iterator[queue.Queue[tuple[str, Any]]]:
    with listening(mqtt_broker.url, ["twin/live/flood/#"], "flood-test-listener") as got:
        yield got


def test_the_rule_parses_bare_and_with_options() -> None:
    (rule,) = parse_rules(RULE)
    assert [a.kind for a in rule.actions] == ["alert", "flood"]
    assert rule.actions[1].flood is not None and rule.actions[1].flood.connectivity == 4
    (bare,) = parse_rules(RULE.replace("- flood: {connectivity: 4}", "- flood"))
    assert bare.actions[1].flood is not None and bare.actions[1].flood.connectivity == 8
    with pytest.raises(Exception, match="connectivity"):
        parse_rules(RULE.replace("connectivity: 4", "connectivity: 6"))


def test_a_firing_gauge_publishes_its_flood_extent(
    settings: Settings,
    engine: Engine,
    mqtt_broker: EmbeddedMosquitto,
    heard: queue.Queue[tuple[str, Any]],
    tmp_path: Path,
) -> None:
    bowl_scene(engine, tmp_path)
    add_gauge(engine, "g1", None, zero_altitude_m=1.0)
    add_gauge_without_zero = "g2"
    add_gauge(engine, add_gauge_without_zero, None)
    apply(engine, RULE)
    with rules_writer(rules_settings(settings, mqtt_broker.url), engine) as (writer, _):
        send(writer, "g1", "stage_m", 1.5, 0)  # below the rule's raise: nothing
        send(writer, "g1", "stage_m", 3.0, 1)  # fires: level 1.0 + 3.0 = 4 m
        topic, doc = heard.get(timeout=30)
        send(writer, "g2", "stage_m", 3.0, 2)
        topic2, doc2 = heard.get(timeout=30)
    assert topic == "twin/live/flood/g1" and doc["device_id"] == "g1"
    assert doc["rule"] == "flood-watch" and doc["value"] == 3.0
    assert doc["level_m"] == 4.0 and doc["flooded_area_m2"] == 81.0  # the 9 x 9 square
    assert doc["buildings"] == 1 and doc["roads_cut"] == 1
    assert doc["extent"]["type"] == "FeatureCollection" and len(doc["extent"]["features"]) == 1
    assert "assets" not in doc and len(doc["result"]) == 32
    assert topic2 == "twin/live/flood/g2" and "zero_altitude_m" in doc2["error"]
    floods = [r for r in outbox_rows(engine) if r["target"].startswith("twin/live/flood/")]
    assert len(floods) == 2 and all(r["sent_at"] is not None for r in floods)
    assert all(r["attempts"] == 1 for r in floods)


def test_the_live_hub_streams_a_flood_to_the_gauges_watchers(
    settings: Settings, engine: Engine, mqtt_broker: EmbeddedMosquitto
) -> None:
    """A published flood reaches a session watching the device, not one that may not see it."""
    from tests.live_support import live_settings, open_ws, seed, serve, snapshot_of, until
    from tests.live_support import wait_subscribed as subscribed

    tokens = seed(engine)
    live = live_settings(settings, mqtt_broker.port)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    extent = {"type": "FeatureCollection", "features": []}
    try:
        with serve(live, engine) as (url, app):
            subscribed(app)
            with open_ws(url, tokens.get("citizen")) as citizen:
                snapshot_of(citizen, {})
                for n, device in enumerate(["bay-conf", "bay-1"]):
                    doc = {"device_id": device, "level_m": float(n), "extent": extent}
                    pub.publish(
                        f"twin/live/flood/{device}", orjson.dumps(doc), qos=1
                    ).wait_for_publish(5)
                got, seen = until(citizen, lambda d: d["type"] == "flood")
    finally:
        pub.loop_stop()
    assert got["flood"]["device_id"] == "bay-1" and got["flood"]["extent"] == extent
    assert got["flood"]["layer"] == "furniture"
    assert not [d for d in seen if d["type"] == "flood" and d["flood"]["device_id"] != "bay-1"]
