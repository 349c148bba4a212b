"""What the live layer hangs on the batch writer: listeners told of every observation stored.

Rules, alerts and the live hub all need to know what was just stored, exactly once however
many bridges and app workers write. The batch writer is the one place that knows: each
observation is inserted by exactly one transaction (the idempotency key), so a listener told
by the writer that inserted it hears of it once. ``in_transaction`` runs inside that
transaction (what must commit or roll back with the observations, such as rule states and
alerts), in a savepoint so that a listener's bug costs its own work, never the batch;
``after_commit`` runs once the batch is durable (what must not announce uncommitted data,
such as publishing live deltas). Listeners never stop ingestion: their errors are logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection


@dataclass(frozen=True, slots=True)
class Stored:
    """One observation as the batch stored it (the twin's device id, validated value)."""

    device_id: str
    metric: str
    at: datetime
    value: float
    unit: str | None
    quality: str
    #: whether it became its device and metric's ``latest_state`` and its device is active:
    #: what the live layer shows; the batch writer's merge says so (one statement less per
    #: batch for the live publisher), None where a writer did not; not part of equality
    live: bool | None = field(default=None, compare=False)


@runtime_checkable
class BatchListener(Protocol):
    """Told of the observations each batch newly stored (duplicates excluded), in time order
    per device and metric."""

    #: a short name, for logs
    name: str

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        """Work that commits with the batch (``now``: the batch's receipt time)."""
        ...

    def after_commit(self, stored: Sequence[Stored]) -> None:
        """Work once the batch is committed; must not block for long (the bridge waits)."""
        ...

    def close(self) -> None:
        """Release what the listener holds (connections, threads)."""
        ...
