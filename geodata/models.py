"""The twin's data model: SQLAlchemy 2 tables with GeoAlchemy2 geometry columns.

Geometry columns are declared without an SRID here: the working CRS is chosen per twin
(``twin init --crs`` or the first import) and :func:`geodata.working_crs.set_working_crs`
then types every column listed in :data:`geodata.vocab.GEOMETRY_COLUMNS` with that SRID.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geodata.vocab import (
    AUDIT_KINDS,
    EVENT_KINDS,
    FURNITURE_KINDS,
    GROUND_KINDS,
    HEIGHT_SOURCES,
    LOCATION_CLASSES,
    NETWORKS,
    NODE_KINDS,
    ROLES,
    TOKEN_KINDS,
    VISIBILITIES,
    Z_SOURCES,
    sql_in,
)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSONB}


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=-1, spatial_index=False)


def _valid(col: str) -> CheckConstraint:
    return CheckConstraint(f"ST_IsValid({col}) AND NOT ST_IsEmpty({col})", name=f"{col}_valid")


def _attrs() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


def _updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class TwinMeta(Base):
    """Key/value facts about the twin (working CRS, demo version)."""

    __tablename__ = "twin_meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String, server_default="proposed")
    site = mapped_column(_geom("MULTIPOLYGON"), nullable=True)
    visibility: Mapped[str] = mapped_column(String, server_default="public")
    attrs: Mapped[dict[str, Any]] = _attrs()
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (
        CheckConstraint(f"visibility IN ({sql_in(VISIBILITIES)})", name="visibility_known"),
    )


class Scenario(Base):
    """A set of changes over the baseline: rows of feature tables carrying its id are added or
    replace a baseline row (``replaces_id``); :class:`ScenarioRemoval` lists removed ones."""

    __tablename__ = "scenarios"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text, server_default="")
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    attrs: Mapped[dict[str, Any]] = _attrs()
    updated_at: Mapped[datetime] = _updated()


class ScenarioRemoval(Base):
    __tablename__ = "scenario_removals"
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True
    )
    layer: Mapped[str] = mapped_column(String, primary_key=True)
    feature_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class _Sourced:
    """Columns of every imported feature: where it came from, for idempotent re-import."""

    source: Mapped[str] = mapped_column(String, nullable=False)
    source_id: Mapped[str] = mapped_column(String, nullable=False)
    attrs: Mapped[dict[str, Any]] = _attrs()
    updated_at: Mapped[datetime] = _updated()


def _source_unique(table: str) -> Index:
    """Re-import upserts on (source, source_id) of baseline rows."""
    return Index(
        f"uq_{table}_source",
        "source",
        "source_id",
        unique=True,
        postgresql_where=text("scenario_id IS NULL"),
    )


def _gist(table: str, col: str) -> Index:
    return Index(f"ix_{table}_{col}", col, postgresql_using="gist")


def _z_source() -> Mapped[str]:
    """Where the row's height came from (``geodata.vocab.Z_SOURCES``): a DEM import re-bases
    the rows whose height is not their file's (:mod:`geodata.grounding`)."""
    return mapped_column(String, nullable=False, server_default="default")


def _z_source_known() -> CheckConstraint:
    return CheckConstraint(f"z_source IN ({sql_in(Z_SOURCES)})", name="z_source_known")


def _scenario_col() -> Mapped[int | None]:
    return mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"), nullable=True)


class Building(_Sourced, Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    footprint = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    base_z: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    z_source: Mapped[str] = _z_source()
    height: Mapped[float] = mapped_column(Double, nullable=False)
    height_source: Mapped[str] = mapped_column(String, nullable=False, server_default="default")
    levels: Mapped[int | None] = mapped_column(Integer)
    roof_type: Mapped[str | None] = mapped_column(String)
    usage: Mapped[str | None] = mapped_column(String)
    name: Mapped[str | None] = mapped_column(String)
    address: Mapped[str | None] = mapped_column(String)
    year_built: Mapped[int | None] = mapped_column(Integer)
    lod2 = mapped_column(_geom("MULTIPOLYGONZ"), nullable=True)
    scenario_id: Mapped[int | None] = _scenario_col()
    replaces_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        _valid("footprint"),
        CheckConstraint("height > 0 AND height < 1000", name="height_positive"),
        CheckConstraint("base_z > -500 AND base_z < 9000", name="base_z_sane"),
        _z_source_known(),
        CheckConstraint("levels IS NULL OR levels >= 0", name="levels_positive"),
        CheckConstraint(f"height_source IN ({sql_in(HEIGHT_SOURCES)})", name="height_source_known"),
        _source_unique("buildings"),
        _gist("buildings", "footprint"),
        # scenario rows only: baseline rows (all but a few) would share one NULL key
        Index(
            "ix_buildings_scenario",
            "scenario_id",
            postgresql_where=text("scenario_id IS NOT NULL"),
        ),
    )


class NetworkSegment(_Sourced, Base):
    __tablename__ = "network_segments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network: Mapped[str] = mapped_column(String, nullable=False)
    geom = mapped_column(_geom("LINESTRINGZ"), nullable=False)
    depth_m: Mapped[float] = mapped_column(Double, nullable=False)
    z_source: Mapped[str] = _z_source()
    diameter_mm: Mapped[float | None] = mapped_column(Double)
    material: Mapped[str | None] = mapped_column(String)
    install_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String, nullable=False, server_default="in_service")
    operator: Mapped[str | None] = mapped_column(String)
    synthetic: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    scenario_id: Mapped[int | None] = _scenario_col()
    replaces_id: Mapped[int | None] = mapped_column(BigInteger)
    location_class: Mapped[str] = mapped_column(String, nullable=False, server_default="C")
    #: 0-100, written by the ageing analysis (twin.analysis.ageing), carried by the tiles
    renewal_score: Mapped[float | None] = mapped_column(Double)
    __table_args__ = (
        _valid("geom"),
        CheckConstraint(f"network IN ({sql_in(NETWORKS)})", name="network_known"),
        CheckConstraint(
            f"location_class IN ({sql_in(LOCATION_CLASSES)})", name="location_class_known"
        ),
        CheckConstraint("renewal_score BETWEEN 0 AND 100", name="renewal_score_range"),
        CheckConstraint("depth_m >= 0 AND depth_m < 100", name="depth_sane"),
        _z_source_known(),
        CheckConstraint("diameter_mm IS NULL OR diameter_mm > 0", name="diameter_positive"),
        CheckConstraint(
            "install_year IS NULL OR install_year BETWEEN 1700 AND 2100", name="year_sane"
        ),
        _source_unique("network_segments"),
        _gist("network_segments", "geom"),
        Index("ix_network_segments_network", "network"),
    )


class NetworkNode(_Sourced, Base):
    __tablename__ = "network_nodes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network: Mapped[str] = mapped_column(String, nullable=False)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    geom = mapped_column(_geom("POINTZ"), nullable=False)
    depth_m: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    z_source: Mapped[str] = _z_source()
    synthetic: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    scenario_id: Mapped[int | None] = _scenario_col()
    location_class: Mapped[str] = mapped_column(String, nullable=False, server_default="C")
    __table_args__ = (
        CheckConstraint(f"network IN ({sql_in(NETWORKS)})", name="network_known"),
        CheckConstraint(f"kind IN ({sql_in(NODE_KINDS)})", name="kind_known"),
        CheckConstraint(
            f"location_class IN ({sql_in(LOCATION_CLASSES)})", name="location_class_known"
        ),
        CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        _z_source_known(),
        _source_unique("network_nodes"),
        _gist("network_nodes", "geom"),
    )


class NetworkEvent(Base):
    """A break or repair of a segment (``twin import events.csv --layer events``)."""

    __tablename__ = "network_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("network_segments.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String, nullable=False)
    date: Mapped[Any] = mapped_column(Date, nullable=False)
    source: Mapped[str] = mapped_column(String, nullable=False)
    synthetic: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    attrs: Mapped[dict[str, Any]] = _attrs()
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(EVENT_KINDS)})", name="event_kind_known"),
        Index("ix_network_events_segment", "segment_id", "date"),
        Index("ix_network_events_source", "source"),
    )


class Furniture(_Sourced, Base):
    __tablename__ = "furniture"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    geom = mapped_column(_geom("POINTZ"), nullable=False)
    heading: Mapped[float | None] = mapped_column(Double)
    height: Mapped[float | None] = mapped_column(Double)
    name: Mapped[str | None] = mapped_column(String)
    z_source: Mapped[str] = _z_source()
    scenario_id: Mapped[int | None] = _scenario_col()
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(FURNITURE_KINDS)})", name="kind_known"),
        _z_source_known(),
        CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        CheckConstraint("height IS NULL OR height > 0", name="height_positive"),
        _source_unique("furniture"),
        _gist("furniture", "geom"),
    )


class Ground(_Sourced, Base):
    """Streets, footways, parks and water: context for the viewer (not in the design brief's
    table list; the viewer needs a ground built from the twin's own data)."""

    __tablename__ = "ground"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    geom = mapped_column(_geom("GEOMETRY"), nullable=False)
    name: Mapped[str | None] = mapped_column(String)
    width_m: Mapped[float | None] = mapped_column(Double)
    scenario_id: Mapped[int | None] = _scenario_col()
    __table_args__ = (
        _valid("geom"),
        CheckConstraint(f"kind IN ({sql_in(GROUND_KINDS)})", name="kind_known"),
        _source_unique("ground"),
        _gist("ground", "geom"),
    )


class Poi(_Sourced, Base):
    __tablename__ = "pois"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String, nullable=False, server_default="poi")
    description: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(_geom("POINTZ"), nullable=False)
    z_source: Mapped[str] = _z_source()
    scenario_id: Mapped[int | None] = _scenario_col()
    __table_args__ = (
        CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        _z_source_known(),
        _source_unique("pois"),
        _gist("pois", "geom"),
    )


class Route(Base):
    """A walking circuit: a line, its ordered stops (poi ids) and accessibility."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    geom = mapped_column(_geom("LINESTRINGZ"), nullable=False)
    stops: Mapped[list[int]] = mapped_column(JSONB, nullable=False, server_default="[]")
    accessible: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    attrs: Mapped[dict[str, Any]] = _attrs()
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (_valid("geom"), _gist("routes", "geom"))


class Dataset(Base):
    """Catalogue of what was imported: source name, layer, licence, attribution, visibility."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String)
    layer: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    licence: Mapped[str | None] = mapped_column(String)
    attribution: Mapped[str | None] = mapped_column(String)
    visibility: Mapped[str] = mapped_column(String, server_default="public")
    features: Mapped[int] = mapped_column(Integer, server_default="0")
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        CheckConstraint(f"visibility IN ({sql_in(VISIBILITIES)})", name="visibility_known"),
        Index("uq_datasets_source_layer", "source", "layer", unique=True),
    )


class User(Base):
    """One row per token: a rotation adds a row and revokes the previous one, so a name has
    at most one active row (``ix_users_active_name``) and may come back after revocation."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    token_id: Mapped[str] = mapped_column(String, unique=True)
    token_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: an account, or an integration token (``twin tokens add``) that may only ingest
    kind: Mapped[str] = mapped_column(Text, server_default="account")
    #: the one device a ``device`` token may send observations for
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=True
    )
    __table_args__ = (
        CheckConstraint("(kind = 'device') = (device_id IS NOT NULL)", name="users_device_kind"),
        CheckConstraint(f"role IN ({sql_in(ROLES)})", name="role_known"),
        CheckConstraint(f"kind IN ({sql_in(TOKEN_KINDS)})", name="users_kind_known"),
        Index(
            "ix_users_active_name", "name", unique=True, postgresql_where=text("revoked_at IS NULL")
        ),
    )


class AuditLog(Base):
    """Who did what (twin.audit); never a secret. ``count`` > 1 for coalesced reads."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    kind: Mapped[str] = mapped_column(String)
    actor: Mapped[str] = mapped_column(String)
    target: Mapped[str | None] = mapped_column(String)
    client: Mapped[str | None] = mapped_column(String)
    count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    detail: Mapped[dict[str, Any]] = _attrs()
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(AUDIT_KINDS)})", name="audit_kind_known"),
        CheckConstraint("count > 0", name="audit_count_positive"),
        Index("ix_audit_log_kind_at", "kind", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )


# the live tables live in their own module; imported here so that ``Base.metadata`` (what
# tests create and Alembic compares) always holds every table of the twin
from geodata import models_live as _live  # noqa: E402, F401
