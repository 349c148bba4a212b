"""paho-mqtt's client with a leaner path for the packets a busy bridge handles by thousands.

Profiled in the bridge (``bench/live.py``, a flood of QoS 1 observations), paho spent about
two thirds of the network thread's 88 µs per message on bookkeeping around each packet, not
on the bytes: three ``recv`` system calls and one ``select`` per packet, an MQTT 5
``Properties`` object built and cleared for every PUBLISH (its constructor walks 27 property
names with ``hasattr`` and ``str.replace``), an ``MQTTMessage`` with its own
``threading.Condition``, a topic-matcher lookup for per-topic callbacks nobody registered;
and, for every PUBACK sent, its own queue entry, wake-up of the network thread and
``send``. :class:`LeanClient` keeps paho for everything (connection, session, keep-alive,
reconnects, TLS, QoS 2, anything unusual) and shortens only these paths:

- reads from the socket in 64 KiB chunks and hands paho its bytes from that buffer, then
  keeps reading packets while the buffer holds some (``select`` cannot see a user-space
  buffer), so a burst costs one system call per chunk;
- a PUBLISH whose property length is zero (what devices and our publishers send) goes to
  :attr:`LeanClient.on_packet` as plain values (topic bytes, payload, packet id, QoS, DUP)
  without building paho's objects; one with properties takes paho's own path
  (``on_message``), so nothing is lost, only slower;
- :meth:`LeanClient.ack_many` queues the PUBACKs of a whole batch as one write;
- a PUBACK of success with no reason code or properties (what the broker answers to a QoS 1
  publish that reached a subscriber) completes the message without decoding objects.

It relies on private methods of paho-mqtt 2 (``_sock_recv``, ``_handle_publish``,
``_handle_pubackcomp``, ``_packet_queue``), pinned in ``uv.lock``;
``tests/test_mqtt_lean_client.py`` runs it against the real broker and fails if they move.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

#: bytes read from the socket at once (Mosquitto writes many packets per segment)
READ_SIZE = 65536
_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")
_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

#: (topic as sent, payload, packet id, QoS, DUP flag)
PacketHandler = Callable[[bytes, bytes, int, int, bool], None]


class LeanClient(mqtt.Client):
    """A paho :class:`~paho.mqtt.client.Client` whose busy paths cost less (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        #: called for every PUBLISH without properties, in the network thread; ``on_message``
        #: still gets the others (and every message while this is None)
        self.on_packet: PacketHandler | None = None

    # -- reading: one recv per chunk, packets taken while the buffer holds some ------------

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            buf = super()._sock_recv(READ_SIZE)  # raises BlockingIOError when drained
            if not buf:
                return buf  # the peer closed: paho's connection-lost path
            self._rbuf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._rpos = end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._buffered() and self._sock:
            rc = super().loop_read(max_packets)
        return rc

    def _buffered(self) -> bool:
        return self._rpos < len(self._rbuf)

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # bytes of a closed connection never reach the next
        super()._sock_close()

    # -- PUBLISH without properties: plain values to on_packet -----------------------------

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.on_packet
        header: int = self._in_packet["command"]
        packet: bytes | bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if handler is None or self._protocol != MQTTProtocolVersion.MQTTv5 or qos > 1:
            return super()._handle_publish()
        size = len(packet)
        end = 2 + ((packet[0] << 8) | packet[1]) if size >= 2 else size + 1
        props = end + 2 if qos else end
        if props >= size or packet[props] != 0:
            return super()._handle_publish()  # properties, or malformed: paho decides
        mid = (packet[end] << 8) | packet[end + 1] if qos else 0
        with self._in_callback_mutex:
            handler(bytes(packet[2:end]), bytes(packet[props + 1 :]), mid, qos, bool(header & 8))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- acknowledging a batch: one queued write ------------------------------------------

    def ack_many(self, mids: Iterable[int]) -> None:
        """PUBACK (success) for each QoS 1 packet id, sent as one write."""
        packet = b"".join([_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids])
        if packet:
            self._packet_queue(_PUBACK, packet, 0, 0)

    # -- PUBACK of success: completes the message without decoding objects ---------------

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet: bytes | bytearray = self._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
