"""What keeps failed sign-ins cheap: limits on failures and a cap on concurrent hashing.

A token check that misses the cache costs one Argon2 verification (about 0.2 s and 64 MiB).
Unbounded, 32 parallel wrong secrets took a server from 140 MB to 2.2 GB and starved every
other request. :class:`SignInLimits` counts failed sign-ins per token id and per client
address in moving windows (the ``limits`` library, in-process memory storage) and refuses
with 429 once either is spent; :class:`HashGate` lets ``slots`` verifications run at once and
``queue`` more wait, and answers 503 to the rest, so the memory that hashing may take is
``slots`` × 64 MiB whatever the load, and the server's worker threads stay free for others.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from geodata.errors import Busy, TooManyRequests

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
#: how much nicer than the server the hashing threads are: requests that need no hash
#: (health, tiles, signed-in callers) get the CPU first while sign-ins are being checked
HASH_NICENESS = 10


class SignInLimits:
    """Failed sign-ins allowed per token id and per client address (``"5/minute"``)."""

    def __init__(self, per_token: str, per_client: str) -> None:
        self.per_token: RateLimitItem = parse(per_token)
        self.per_client: RateLimitItem = parse(per_client)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        reset = self._limiter.get_window_stats(item, *key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def check(self, token_id: str, client: str | None) -> None:
        """Let the sign-in be tried, or raise :class:`TooManyRequests` with Retry-After."""
        if not self._limiter.test(self.per_token, "token", token_id):
            wait = self._retry_after(self.per_token, "token", token_id)
            raise TooManyRequests(
                f"too many failed sign-ins with token id {token_id}: retry in {wait} s, "
                "or ask an admin for a new token",
                retry_after=wait,
            )
        if client is not None and not self._limiter.test(self.per_client, "client", client):
            wait = self._retry_after(self.per_client, "client", client)
            raise TooManyRequests(
                f"too many failed sign-ins from {client}: retry in {wait} s",
                retry_after=wait,
            )

    def failed(self, token_id: str, client: str | None) -> None:
        """Count one failure against the token id and the client address."""
        self._limiter.hit(self.per_token, "token", token_id)
        if client is not None:
            self._limiter.hit(self.per_client, "client", client)


class RateLimits:
    """Named rates per caller (``{"requests": "50/second", "observations": "5000/second"}``):
    the one limiter of the routes that cost work (ingest now; the analyses next), in
    moving windows in this process's memory (N workers allow N times the rate).

    :meth:`take` spends ``cost`` of one rate for one key or raises :class:`TooManyRequests`
    with the seconds until it would fit; nothing is spent when refused, so a refused caller
    that waits as told gets through.
    """

    def __init__(self, rates: dict[str, str], what: str) -> None:
        self.rates: dict[str, RateLimitItem] = {name: parse(r) for name, r in rates.items()}
        self.what = what
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def largest(self, name: str) -> int:
        """The most one key may spend of rate ``name`` in one window."""
        return int(self.rates[name].amount)

    def take(self, name: str, key: str, cost: int = 1) -> None:
        item = self.rates[name]
        if cost <= 0 or self._limiter.hit(item, self.what, name, key, cost=cost):
            return
        stats = self._limiter.get_window_stats(item, self.what, name, key)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"{self.what}: over {item.amount} {name} per {item.GRANULARITY.name} for "
            f"{key}: retry in {wait} s (Retry-After), or send fewer and larger batches",
            retry_after=wait,
        )


def _lower_priority() -> None:
    """Lower this thread's CPU priority (Linux: niceness is per thread, and the lanes Argon2
    starts inherit it); elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HASH_NICENESS)
            )
        except OSError as exc:  # pragma: no cover - a sandbox forbidding it
            LOGGER.debug("hashing threads keep their priority: %s", exc)


class HashGate:
    """At most ``slots`` hash verifications at once and ``queue`` waiting (each for at most
    ``wait`` seconds); anyone else gets :class:`Busy` (503, Retry-After) straight away.
    :meth:`run` computes a hash on one of ``slots`` low-priority threads.
    """

    def __init__(self, slots: int, queue: int, wait: float = 2.0) -> None:
        if slots < 1:
            raise ValueError("a hash gate needs at least one slot")
        self.slots = slots
        self.queue = queue
        self.wait = wait
        self._free = threading.BoundedSemaphore(slots)
        self._pool = ThreadPoolExecutor(slots, "token-hash", initializer=_lower_priority)
        self._lock = threading.Lock()
        self._waiting = 0

    def _busy(self) -> Busy:
        return Busy("too many sign-ins are being checked at once: retry in a moment")

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.queue:
                    raise self._busy()
                self._waiting += 1
            try:
                got = self._free.acquire(timeout=self.wait)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not got:
                raise self._busy()
        try:
            yield
        finally:
            self._free.release()

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` on a low-priority hashing thread (call it inside :meth:`slot`)."""
        return self._pool.submit(work).result()
