"""The outbox: every action a rule (or a person) decides is a row written in the deciding
transaction, sent after the commit, and marked sent.

Why an outbox and not a publish from the evaluator: the evaluator runs inside the batch's
transaction, which may still roll back; a message sent then would announce what never
happened, and one sent after the commit would be lost by a crash in between. A row commits
or rolls back with the decision. Senders (one per bridge and app process) claim due rows
with ``FOR UPDATE SKIP LOCKED``, so two never send the same row; a row is marked sent in
the transaction that claimed it. A crash after the send and before that commit sends it
again: delivery is at least once, and every message carries its outbox id (``X-Twin-Delivery``
for webhooks, ``delivery`` in MQTT command payloads' user properties) for the receiver to drop
a repeat. Failures are retried with exponential backoff up to a number of attempts, then the
row is marked failed (kept, with its last error).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

log = logging.getLogger(__name__)

_ADD = text(
    "INSERT INTO rule_outbox (kind, target, payload, options, rule, device_id) "
    "VALUES (:k, :t, :p, :o, :r, :d)"
).bindparams(bindparam("p", type_=JSONB), bindparam("o", type_=JSONB))


def add(
    conn: Connection,
    kind: str,
    target: str,
    payload: dict[str, Any],
    options: dict[str, Any] | None = None,
    *,
    rule: str | None = None,
    device: str | None = None,
) -> None:
    """Queue one message (``mqtt`` topic or ``webhook`` URL) in the caller's transaction;
    written by :func:`flush` (one round trip for a whole batch's messages)."""
    row = {"k": kind, "t": target, "p": payload, "o": options or {}, "r": rule, "d": device}
    conn.info.setdefault(_PENDING, []).append(row)


def flush(conn: Connection) -> int:
    """Write the messages :func:`add` queued on ``conn``; how many."""
    rows = conn.info.pop(_PENDING, [])
    if rows:
        conn.execute(_ADD, rows)
    return len(rows)


def discard(conn: Connection) -> None:
    """Forget what an earlier, failed transaction on this connection queued (``conn.info``
    outlives transactions): called before deciding anything."""
    conn.info.pop(_PENDING, None)


_PENDING = "twin.rules.outbox"


#: builds an MQTT message's body when it is sent, from the row's payload (``options.build``)
Builder = Callable[[dict[str, Any]], dict[str, Any]]


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, delivery: int) -> None:
        """Publish with QoS 1 and return once the broker has it; raise otherwise."""
        ...


class Poster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        """POST and return on a 2xx answer; raise otherwise."""
        ...


def send_due(
    engine: Engine,
    publisher: Publisher | None,
    poster: Poster,
    *,
    retry_seconds: float = 2.0,
    max_attempts: int = 8,
    limit: int = 200,
    builders: dict[str, Builder] | None = None,
) -> int:
    """Send what is due now; the number of rows sent. Each row is claimed, sent and marked
    in one transaction, so another sender skips it meanwhile. An MQTT row whose options name
    a ``build`` gets its body from ``builders`` then (the flood action's extent)."""
    sent = 0
    while True:
        with engine.begin() as conn:
            row = conn.execute(
                text(
                    "SELECT id, kind, target, payload, options, attempts FROM rule_outbox "
                    "WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= now() "
                    "ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
            ).first()
            if row is None:
                return sent
            body = orjson.dumps(row.payload)
            try:
                build = (row.options or {}).get("build")
                if build is not None:
                    if builders is None or build not in builders:
                        raise RuntimeError(f"this process cannot build {build!r} messages")
                    body = orjson.dumps(builders[build](row.payload))
                if row.kind == "mqtt":
                    if publisher is None:
                        raise RuntimeError("no MQTT broker configured for rule actions")
                    publisher.publish(row.target, body, row.id)
                else:
                    opts = row.options or {}
                    headers = {**opts.get("headers", {}), "X-Twin-Delivery": str(row.id)}
                    poster.post(row.target, body, headers, float(opts.get("timeout", 5.0)))
            except Exception as exc:  # any failure: retry later, never stop the sender
                attempts = row.attempts + 1
                failed = attempts >= max_attempts
                delay = min(retry_seconds * 2 ** (attempts - 1), 600.0)
                conn.execute(
                    text(
                        "UPDATE rule_outbox SET attempts = :a, last_error = :e, "
                        "next_at = now() + make_interval(secs => :s), "
                        "failed_at = CASE WHEN :f THEN now() END WHERE id = :i"
                    ),
                    {"a": attempts, "e": str(exc)[:500], "s": delay, "f": failed, "i": row.id},
                )
                log.warning(
                    "rule action %s to %s failed (attempt %d%s): %s",
                    row.id,
                    row.target,
                    attempts,
                    ", giving up" if failed else "",
                    exc,
                )
                return sent  # the broker or the network is away: the rest waits a round
            conn.execute(
                text(
                    "UPDATE rule_outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = :i"
                ),
                {"i": row.id},
            )
            sent += 1
            if sent >= limit:
                return sent


class HTTPPoster:
    """Webhooks through httpx (one client, its connection pool kept)."""

    def __init__(self) -> None:
        import httpx

        self._client = httpx.Client(follow_redirects=False)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        answer = self._client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
        )
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"{url} answered {answer.status_code}")

    def close(self) -> None:
        self._client.close()


class Worker:
    """The thread of a process that sends the outbox and runs the periodic sweep.

    ``wake()`` after a commit that queued something sends at once; otherwise it looks every
    ``poll`` seconds (retries come due) and runs ``sweep`` every ``sweep_seconds``.
    """

    def __init__(
        self,
        send: Callable[[], int],
        sweep: Callable[[], object] | None,
        *,
        poll: float = 2.0,
        sweep_seconds: float = 15.0,
    ) -> None:
        self._send = send
        self._sweep = sweep
        self.poll = poll
        self.sweep_seconds = sweep_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._last_error = ""

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._starting:  # batches of several request threads may start it at once
            if self._thread is None and not self._stop.is_set():
                thread = threading.Thread(target=self._run, name="rules-worker", daemon=True)
                thread.start()
                self._thread = thread

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        import time

        next_sweep = time.monotonic() + self.sweep_seconds
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._guard(self._send)
            if self._sweep is not None and time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_seconds
                self._guard(self._sweep)
                self._guard(self._send)

    def _guard(self, work: Callable[[], object]) -> None:
        try:
            work()
            self._last_error = ""
        except Exception as exc:  # the database away: say so once, keep trying
            if str(exc) != self._last_error:
                log.exception("rules worker: %s failed; retrying", getattr(work, "__name__", work))
            self._last_error = str(exc)
