"""Which values changed, in order, once per device and metric: what every session reads.

The hub notes each new latest value here (a sequence number); a session remembers the last
number it sent and, once per coalescing period, takes the keys changed since, newest first,
until it meets one it had sent. A key changed again moves to the end, so the log holds one
entry per device and metric (the registry's size) however fast values change and however
slowly a client reads: nothing is kept per client but that number.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

Key = tuple[str, str]


class ChangeLog:
    def __init__(self) -> None:
        self.seq = 0
        self._log: OrderedDict[Key, int] = OrderedDict()

    def touch(self, key: Key) -> None:
        self.seq += 1
        self._log[key] = self.seq
        self._log.move_to_end(key)

    def since(self, seq: int) -> Iterator[Key]:
        """The keys changed after ``seq``, newest first."""
        for key, changed in reversed(self._log.items()):
            if changed <= seq:
                return
            yield key

    def forget(self, devices: set[str]) -> None:
        """Drop the keys of devices that left the registry."""
        for key in [k for k in self._log if k[0] in devices]:
            del self._log[key]

    def __len__(self) -> int:
        return len(self._log)
