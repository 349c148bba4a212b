"""One way to make a paho-mqtt client of the live layer from the settings, as the bridge does.

The publisher (in every process that stores observations) and the hub's feed (in every app
worker) connect to the same broker with the same address, login and TLS as ``twin bridge``.
"""

from __future__ import annotations

import os
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors_bridge.mqtt_bridge import _tls_context
from sensors_bridge.mqtt_client import LeanClient
from twin.settings import Settings

#: where the hub listens: every live topic (state and alerts), 4+ levels deep so the bridge's
#: ``twin/+/+`` never matches them
LIVE_FILTER = "twin/live/#"
STATE_PREFIX = "twin/live/state/"
ALERT_PREFIX = "twin/live/alert/"
#: a gauge's flood extent (twin.analysis.flood.live), streamed like its alerts
FLOOD_PREFIX = "twin/live/flood/"


def state_topic(device_id: str, metric: str) -> str:
    return f"{STATE_PREFIX}{device_id}/{metric}"


def alert_topic(device_id: str) -> str:
    return f"{ALERT_PREFIX}{device_id}"


def live_client(settings: Settings, role: str) -> LeanClient:
    """A connected-on-demand MQTT 5 client: a unique id per process (each worker hears every
    message; nothing is shared), reconnecting by itself with backoff. The bridge's
    :class:`~sensors_bridge.mqtt_client.LeanClient`: the publisher's PUBACKs and the hub's
    state messages come by thousands a second."""
    client = LeanClient(
        CallbackAPIVersion.VERSION2,
        client_id=f"twin-live-{role}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    user, password = settings.mqtt_login
    if user is not None:
        client.username_pw_set(user, password)
    if settings.mqtt_tls:
        client.tls_set_context(_tls_context(settings.mqtt_ca_file))
    return client
