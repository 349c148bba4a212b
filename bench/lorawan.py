"""Benchmark: LoRaWAN messages decoded per second (no database), beside the peer: the HTTP
adapter decoding the same observations as plain JSON, in the same process.

Bodies: The Things Stack's documented uplink (2 numbers), ChirpStack's documented ``up``
event with a 2-number ``object``, as JSON and as Protobuf; the peer is one JSON array of the
same 2 observations for ``POST /api/ingest``. Best of ``--repeat`` runs of ``--n`` decodes.

    .venv/bin/python bench/lorawan.py [--n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensors_bridge.model import adapter_for
from tests.lorawan_examples import CHIRPSTACK_UP, TTS_UPLINK, as_protobuf, with_object

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def rate(protocol: str, body: bytes, n: int, repeat: int) -> float:
    """Messages decoded per second, best of ``repeat``."""
    adapter = adapter_for(protocol)
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            list(adapter.decode(body, received=NOW))
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    up = with_object(CHIRPSTACK_UP, {"temperature": 21.5, "humidity": 40})
    peer_body = (
        b'[{"device": "d", "metric": "temperature", "value": 1.0, "at": "2020-02-12T15:15:45Z",'
        b' "message_id": "m"}, {"device": "d", "metric": "luminosity", "value": 0.64, "at":'
        b' "2020-02-12T15:15:45Z", "message_id": "m"}]'
    )
    peer = rate("http", peer_body, args.n, args.repeat)
    out = Console()
    out.print(f"peer: http JSON array of 2 observations  {peer:10,.0f} msg/s")
    for name, protocol, body in (
        ("tts uplink (docs example)", "tts", TTS_UPLINK),
        ("chirpstack up, JSON", "chirpstack", up),
        ("chirpstack up, Protobuf", "chirpstack", as_protobuf(up)),
    ):
        got = rate(protocol, body, args.n, args.repeat)
        out.print(f"{name:40} {got:10,.0f} msg/s  ({got / peer:.2f} of the peer)")


if __name__ == "__main__":
    main()
