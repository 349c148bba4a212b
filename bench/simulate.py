"""Benchmark: the simulator's messages per protocol (twin JSON, The Things Stack v3 and
ChirpStack v4 uplinks) published -> stored through ``twin bridge``'s code, beside the peer:
raw Mosquitto publish -> subscribe of the same messages (a paho subscriber that only counts),
same broker, same publisher, in the same process.

It shows what decoding each network server's format costs the bridge on top of the broker.
Messages are built beforehand by ``sensors_bridge.simulate.messages`` (SYNTHETIC devices), so
only publishing, delivery, decoding and storing are timed.

    .venv/bin/python bench/simulate.py [--messages 5000]
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensors_bridge.mqtt_bridge import MQTTBridge  # noqa: E402
from sensors_bridge.simulate.messages import Message, SimDevice, message  # noqa: E402
from sensors_bridge.simulate.profiles import Scenario  # noqa: E402
from twin.services.mosquitto import EmbeddedMosquitto  # noqa: E402

console = Console()
KINDS = {
    "mqtt": lambda i: SimDevice(f"lamp-{i}", "mqtt", "lamp"),
    "tts": lambda i: SimDevice(f"bay-{i}", "tts", "parking", f"70B3D57ED0{i:06X}"),
    "chirpstack": lambda i: SimDevice(f"co2-{i}", "chirpstack", "co2", f"A84041{i:010X}"),
}


def messages(protocol: str, n: int, run: int) -> list[Message]:
    """``n`` messages of 200 devices, each with its own time (``run`` keeps runs apart)."""
    devices = [KINDS[protocol](i) for i in range(200)]
    start = datetime.now(UTC) - timedelta(hours=1 + run)
    s = Scenario(seed=run)
    return [message(devices[k % 200], start + timedelta(milliseconds=k), k, s)[0] for k in range(n)]


def _publish(port: int, batch: list[Message]) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(m.topic or "", m.body, qos=1) for m in batch]
    for info in infos:
        info.wait_for_publish(timeout=120)
    pub.disconnect()
    pub.loop_stop()


def raw(port: int, batch: list[Message], topic: str) -> float:
    """Peer: a QoS 1 subscriber counting; seconds from first publish to last receipt."""
    got = 0
    done, subscribed = threading.Event(), threading.Event()

    def on_message(*_: object) -> None:
        nonlocal got
        got += 1
        if got == len(batch):
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    subscribed.wait(10)
    t0 = time.perf_counter()
    _publish(port, batch)
    if not done.wait(300):
        raise SystemExit(f"raw {topic}: {got} of {len(batch)} messages after 300 s")
    elapsed = time.perf_counter() - t0
    sub.disconnect()
    sub.loop_stop()
    return elapsed


def twin(engine: Engine, port: int, batch: list[Message], instance: str) -> float:
    """The twin: seconds from first publish to the last observation committed."""
    bridge = MQTTBridge(engine, "127.0.0.1", port, instance=instance)
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    bridge.subscribed.wait(20)
    want = sum(m.observations for m in batch)
    t0 = time.perf_counter()
    _publish(port, batch)
    deadline = time.monotonic() + 300
    while bridge.stats.stored + bridge.stats.duplicate + bridge.stats.rejected < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"{instance}: {bridge.stats} of {want} observations after 300 s")
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    bridge.request_stop()
    thread.join(20)
    assert bridge.stats.rejected == 0, "the simulator's messages must all be accepted"
    return elapsed


FILTERS = {"mqtt": "twin/+/+", "tts": "v3/+/devices/+/up", "chirpstack": "application/#"}


def run(engine: Engine, work: Path, port: int, n: int) -> None:
    broker = EmbeddedMosquitto(work / "mqtt", port)
    broker.start()
    table = Table("messages", "raw msg/s (peer)", "stored msg/s", "observations/s", "ratio")
    try:
        for run_no, protocol in enumerate(KINDS):
            t_raw = raw(port, messages(protocol, n, 2 * run_no), FILTERS[protocol])
            batch = messages(protocol, n, 2 * run_no + 1)
            t_twin = twin(engine, port, batch, "bench")  # one session: no offline sharer
            obs = sum(m.observations for m in batch)
            table.add_row(
                protocol,
                f"{n / t_raw:,.0f}",
                f"{n / t_twin:,.0f}",
                f"{obs / t_twin:,.0f}",
                f"{t_raw / t_twin:.2f}",
            )
    finally:
        broker.stop()
    console.print(f"{n} QoS 1 messages per protocol over 200 devices, one publisher")
    console.print(table)


def main() -> None:
    import argparse

    from bench.access import free_port, private_postgis

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5_000)
    args = parser.parse_args()
    with private_postgis("sim") as db:
        run(db.engine, db.work, free_port(), args.messages)


if __name__ == "__main__":
    main()
