"""The live layer's tables: the device registry, observations and their latest state, dead
letters, ingest counts, rules and alerts (written by ``sensors_bridge``).

Kept apart from :mod:`geodata.models` (which imports this module, so ``Base.metadata`` always
has every table) only to keep each module readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geodata.models import Base, _attrs, _geom, _updated
from geodata.vocab import (
    ALERT_STATES,
    DEVICE_STATUSES,
    PROTOCOLS,
    QUALITIES,
    RULE_STATES,
    SEVERITIES,
    VISIBILITIES,
    sql_in,
)


class Device(Base):
    """The device registry: one row per sensor, bound to a feature of the twin (layer and id,
    checked against the layer by ``sensors_bridge.registry``). ``external_id`` is what its
    network server calls it (DevEUI, TTS device id, GTFS stop id), unique per protocol."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    protocol: Mapped[str] = mapped_column(String, nullable=False)
    type: Mapped[str] = mapped_column(String, nullable=False)
    unit: Mapped[str | None] = mapped_column(String)
    layer: Mapped[str | None] = mapped_column(String)
    feature_id: Mapped[int | None] = mapped_column(BigInteger)
    geom = mapped_column(_geom("POINTZ"), nullable=True)
    visibility: Mapped[str] = mapped_column(String, nullable=False, server_default="public")
    attrs: Mapped[dict[str, Any]] = _attrs()
    updated_at: Mapped[datetime] = _updated()
    external_id: Mapped[str | None] = mapped_column(Text)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default="active")
    #: the Thing's SensorThings ``@iot.id`` (migration 0007)
    sta_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    __table_args__ = (
        CheckConstraint(f"visibility IN ({sql_in(VISIBILITIES)})", name="visibility_known"),
        CheckConstraint(f"status IN ({sql_in(DEVICE_STATUSES)})", name="devices_status_known"),
        CheckConstraint(f"protocol IN ({sql_in(PROTOCOLS)})", name="devices_protocol_known"),
        CheckConstraint("(layer IS NULL) = (feature_id IS NULL)", name="devices_feature_whole"),
        Index(
            "uq_devices_protocol_external_id",
            "protocol",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_devices_geom", "geom", postgresql_using="gist"),
        Index("ix_devices_status", "status"),
    )


class Metric(Base):
    """What a metric is measured in and which values are plausible (out of range: dead letter)."""

    __tablename__ = "metrics"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    unit: Mapped[str | None] = mapped_column(Text)
    min_value: Mapped[float | None] = mapped_column(Double)
    max_value: Mapped[float | None] = mapped_column(Double)
    description: Mapped[str | None] = mapped_column(Text)


class Observation(Base):
    """Append-only time series, written in batches by ``sensors_bridge.store``; partitioned
    by month on ``at`` (migration 0005), its primary key the idempotency key."""

    __tablename__ = "observations"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(Text, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    message_id: Mapped[str] = mapped_column(Text, primary_key=True, server_default="")
    value: Mapped[float | None] = mapped_column(Double)
    unit: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[str] = mapped_column(Text, server_default="good")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: the SensorThings ``@iot.id``, from a sequence (migration 0007)
    sta_id: Mapped[int] = mapped_column(BigInteger, index=True)
    __table_args__ = (
        CheckConstraint(f"quality IN ({sql_in(QUALITIES)})", name="observations_quality_known"),
        Index("ix_observations_at_brin", "at", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (at)"},
    )


class LatestState(Base):
    """The newest observation per device and metric (upserted only by a newer one)."""

    __tablename__ = "latest_state"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float | None] = mapped_column(Double)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    unit: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[str] = mapped_column(Text, server_default="good")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    #: the Datastream's SensorThings ``@iot.id`` (migration 0007)
    sta_id: Mapped[int] = mapped_column(BigInteger, unique=True)


class ObservedProperty(Base):
    """A metric name with a stable SensorThings ``@iot.id`` (filled by triggers, 0007)."""

    __tablename__ = "observed_properties"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)


class DeadLetter(Base):
    """What could not be ingested: the raw bytes, which adapter, why."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adapter: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    __table_args__ = (Index("ix_dead_letters_adapter_reason", "adapter", "reason"),)


class IngestCount(Base):
    """Observations stored or recognised as duplicates, per adapter (``/api/ingest/stats``)."""

    __tablename__ = "ingest_counts"
    adapter: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, server_default="0")


class Rule(Base):
    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    updated_at: Mapped[datetime] = _updated()


class Alert(Base):
    """An alert opened by a rule (``twin.rules``); at most one not resolved per rule and
    device (a partial unique index, migration 0010). ``rule`` is the rule's name, kept when
    the rule is deleted."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    device_id: Mapped[str | None] = mapped_column(String)
    state: Mapped[str] = mapped_column(String, server_default="open")
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rule: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text, server_default="warning")
    metric: Mapped[str | None] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Double)
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in(ALERT_STATES)})", name="state_known"),
        CheckConstraint(f"severity IN ({sql_in(SEVERITIES)})", name="alert_severity_known"),
        Index(
            "uq_alerts_one_open",
            "rule",
            "device_id",
            unique=True,
            postgresql_where=text("state <> 'resolved'"),
        ),
        Index("ix_alerts_state_opened", "state", "opened_at"),
        Index("ix_alerts_device", "device_id"),
    )


class RuleState(Base):
    """A rule's state for one device, locked while an observation is evaluated (0010)."""

    __tablename__ = "rule_states"
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    state: Mapped[str] = mapped_column(Text, server_default="ok")
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    memory: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    alert_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in(RULE_STATES)})", name="rule_state_known"),
    )


class RuleOutbox(Base):
    """An action decided in a batch's transaction, sent after its commit (0010)."""

    __tablename__ = "rule_outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    rule: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("kind IN ('mqtt', 'webhook')", name="outbox_kind_known"),
        Index(
            "ix_rule_outbox_due",
            "next_at",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )


class LiveAggregate(Base):
    """An open aggregate of live observations (migration 0009): the ``datasets`` row of layer
    ``live`` it publishes, what it aggregates and how it is anonymised."""

    __tablename__ = "live_aggregates"
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    device_type: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(Text)
    window_s: Mapped[int] = mapped_column(Integer)
    cell_m: Mapped[float] = mapped_column(Double)
    k: Mapped[int] = mapped_column(Integer)
    epsilon: Mapped[float | None] = mapped_column(Double)
    lower: Mapped[float | None] = mapped_column(Double)
    upper: Mapped[float | None] = mapped_column(Double)
    model: Mapped[str] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(Text)
    grace_s: Mapped[int] = mapped_column(Integer, server_default="300")
    released_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("window_s >= 60", name="live_window_minute"),
        CheckConstraint("cell_m > 0", name="live_cell_positive"),
        CheckConstraint("k >= 2", name="live_k_group"),
        CheckConstraint("epsilon > 0", name="live_epsilon_positive"),
        CheckConstraint("grace_s >= 0", name="live_grace"),
        CheckConstraint(
            "lower IS NULL OR upper IS NULL OR lower < upper", name="live_bounds_ordered"
        ),
        CheckConstraint(
            "epsilon IS NULL OR (lower IS NOT NULL AND upper IS NOT NULL)", name="live_dp_bounded"
        ),
        UniqueConstraint("device_type", "metric", name="uq_live_type_metric"),
    )


class LiveRelease(Base):
    """One published group (window, cell) of an open aggregate, written once."""

    __tablename__ = "live_releases"
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("live_aggregates.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    cell_x: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cell_y: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    devices: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Double)
    released_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
