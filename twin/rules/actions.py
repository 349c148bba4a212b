"""What a transition does: open or resolve its alert, queue its commands, downlinks,
webhooks and flood runs in the outbox (all in the batch's transaction; sent after the commit).

A ``flood`` action queues an MQTT message whose body is built when it is sent (outbox
``options.build``): the flood analysis for the gauge, run after the commit on the reading that
fired, its extent published on ``twin/live/flood/{device}`` for the live hub to stream.

Topics: an MQTT command is ``twin/{device}/cmd/{name}`` with the action's JSON payload; a
LoRaWAN downlink goes through the network server's MQTT integration, ChirpStack v4's
``application/{application}/device/{devEui}/command/down`` (``devEui``, ``confirmed``,
``fPort`` and ``data`` in base64 or ``object`` for the device profile's codec) or The Things
Stack's ``v3/{application}@{tenant}/devices/{device}/down/push`` (``downlinks`` with
``f_port``, ``frm_payload`` in base64 or ``decoded_payload``, ``priority``). The DevEUI is
the device's external id; the TTS device id is ``attrs.tts_device_id`` or the twin's id.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Connection

from twin.rules import outbox
from twin.rules.alerts import Opening, open_alert, resolve_by_rule
from twin.rules.evaluate import State, Transition
from twin.rules.model import Action, DownlinkSpec, Rule
from twin.rules.store import DeviceInfo, Loaded


def perform(conn: Connection, loaded: Loaded, dev: DeviceInfo, st: State, tr: Transition) -> int:
    """Carry out ``tr``'s actions; how many messages were queued."""
    rule = loaded.rule
    fields = {
        "device": dev.id,
        "value": None if tr.value is None else f"{tr.value:g}",
        "rule": rule.name,
        "metric": tr.metric,
        "at": tr.at.isoformat(),
        "severity": rule.severity,
    }
    queued = 0
    for action in rule.actions:
        if action.alert is not None:
            queued += _alert(conn, loaded, dev, st, tr, action, fields)
        elif action.on == tr.to:
            _queue(conn, rule, dev, tr, action, fields)
            queued += 1
    return queued


def _alert(
    conn: Connection,
    loaded: Loaded,
    dev: DeviceInfo,
    st: State,
    tr: Transition,
    action: Action,
    fields: dict[str, Any],
) -> int:
    assert action.alert is not None
    rule = loaded.rule
    if tr.to == "firing":
        severity = action.alert.severity or rule.severity
        message = rule.render(action.alert.message, {**fields, "severity": severity})
        st.alert_id = open_alert(
            conn,
            Opening(loaded.id, rule.name, dev.id, severity, message, tr.metric, tr.value, tr.at),
        )
        st.dirty = True
        return 1
    if st.alert_id is not None:
        resolve_by_rule(conn, st.alert_id, tr.at)
        st.alert_id = None
        st.dirty = True
        return 1
    return 0


def event(rule: Rule, dev: DeviceInfo, tr: Transition) -> dict[str, Any]:
    """A webhook's body: what happened, to which device, by which rule."""
    return {
        "event": tr.to,
        "rule": rule.name,
        "device_id": dev.id,
        "metric": tr.metric,
        "value": tr.value,
        "at": tr.at.isoformat(),
        "severity": rule.severity,
        "layer": dev.layer,
        "type": dev.type,
    }


def _queue(
    conn: Connection,
    rule: Rule,
    dev: DeviceInfo,
    tr: Transition,
    action: Action,
    fields: dict[str, Any],
) -> None:
    if action.command is not None:
        target = action.command.device or dev.id
        topic = f"twin/{target}/cmd/{action.command.name}"
        outbox.add(conn, "mqtt", topic, dict(action.command.payload), rule=rule.name, device=dev.id)
    elif action.downlink is not None:
        topic, body = downlink(action.downlink, dev)
        outbox.add(conn, "mqtt", topic, body, rule=rule.name, device=dev.id)
    elif action.flood is not None:
        from twin.analysis.flood.live import FLOOD_TOPIC

        payload = {
            "gauge": dev.id,
            "connectivity": action.flood.connectivity,
            "rule": rule.name,
            "at": tr.at.isoformat(),
            "value": tr.value,
        }
        # built when sent (after the commit, so the flood reads the reading that fired)
        topic = FLOOD_TOPIC.format(device_id=dev.id)
        outbox.add(conn, "mqtt", topic, payload, {"build": "flood"}, rule=rule.name, device=dev.id)
    elif action.webhook is not None:
        hook = action.webhook
        options = {"headers": dict(hook.headers), "timeout": hook.timeout}
        outbox.add(
            conn, "webhook", hook.url, event(rule, dev, tr), options, rule=rule.name, device=dev.id
        )


def downlink(spec: DownlinkSpec, dev: DeviceInfo) -> tuple[str, dict[str, Any]]:
    """The network server's topic and JSON for a downlink to ``dev``."""
    data = base64.b64encode(bytes.fromhex(spec.hex)).decode() if spec.hex is not None else None
    if spec.network == "chirpstack":
        eui = (dev.external_id or dev.id).lower()
        body: dict[str, Any] = {"devEui": eui, "confirmed": spec.confirmed, "fPort": spec.f_port}
        body |= {"data": data} if data is not None else {"object": spec.object}
        return f"application/{spec.application}/device/{eui}/command/down", body
    tts_id = str(dev.attrs.get("tts_device_id") or dev.id)
    app = f"{spec.application}@{spec.tenant}" if spec.tenant else spec.application
    one: dict[str, Any] = {"f_port": spec.f_port, "priority": "NORMAL"}
    one |= {"frm_payload": data} if data is not None else {"decoded_payload": spec.object}
    if spec.confirmed:
        one["confirmed"] = True
    return f"v3/{app}/devices/{tts_id}/down/push", {"downlinks": [one]}
