"""What a rule says, as data: its scope, its condition, its timing and its actions.

Why pydantic models: a rule file is user input, and pydantic names the field at fault and
why (``loc`` and ``msg``), which :mod:`twin.rules.parse` turns into a line of the file. The
models are frozen: a loaded rule is shared by every batch of the process.

A condition is a leaf or a combination (``all``/``any`` of conditions). Leaves:

- threshold: ``metric``, ``raise`` and optional ``clear`` (hysteresis: it becomes true at
  ``raise`` and false only past ``clear``); ``direction`` above (the default) or below, or
  read from ``clear`` (a clear level above the raise level means below);
- rate of change: the same on the change of ``metric`` per ``change_per`` (``1h``...);
- no data: ``metric`` and ``no_data`` (a duration): true once the device has sent no
  ``metric`` for that long (judged by the clock: the sweep and ``twin rules tick``);
- geofence: ``geofence`` (an ``area``, WGS 84 ``[w, s, e, n]`` or a GeoJSON polygon, and
  ``when`` inside or outside), over the device's ``lon`` and ``lat`` metrics.
"""

from __future__ import annotations

import re
import string
from functools import cached_property
from typing import Annotated, Any, Literal

import shapely
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from shapely.geometry.base import BaseGeometry

from geodata.layers import LAYERS
from geodata.vocab import SEVERITIES

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$"
)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
#: what a message template may name
TEMPLATE_FIELDS = frozenset({"device", "value", "rule", "metric", "at", "severity"})


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a duration such as ``10m``, ``1h30m``, ``45s``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as 10m, 1h30m, 45s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (m := _DURATION.match(value)):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        raise ValueError(f"{value!r} is not a duration: write seconds or text like 10m, 1h30m")
    if not 0 <= seconds <= 366 * 86400:
        raise ValueError(f"{value!r}: a duration is 0 s to a year")
    return seconds


def _list_of_str(value: object) -> object:
    return [value] if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Names = Annotated[tuple[str, ...], BeforeValidator(_list_of_str)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


class Scope(_Frozen):
    """Which devices a rule watches: every condition given must hold (none: all devices)."""

    layer: Names = ()
    type: Names = ()
    #: the device's ``attrs.tags`` must hold every one of these
    tags: Names = ()
    devices: Names = ()

    @model_validator(mode="after")
    def _known_layers(self) -> Scope:
        for layer in self.layer:
            if layer not in LAYERS:
                raise ValueError(f"no layer {layer!r}: choose one of {', '.join(LAYERS)}")
        return self

    def matches(self, device_id: str, type_: str, layer: str | None, tags: frozenset[str]) -> bool:
        return (
            (not self.devices or device_id in self.devices)
            and (not self.type or type_ in self.type)
            and (not self.layer or layer in self.layer)
            and set(self.tags) <= tags
        )


class Geofence(_Frozen):
    area: list[float] | dict[str, Any]
    when: Literal["inside", "outside"] = "inside"
    lon: str = "lon"
    lat: str = "lat"

    @model_validator(mode="after")
    def _area(self) -> Geofence:
        self.shape()  # raises with the reason
        return self

    def shape(self) -> BaseGeometry:
        """The area as a prepared shapely geometry (WGS 84 lon/lat)."""
        if isinstance(self.area, list):
            if len(self.area) != 4 or not (
                self.area[0] < self.area[2] and self.area[1] < self.area[3]
            ):
                raise ValueError("a bbox area is [west, south, east, north], west < east")
            geom = shapely.box(*self.area)
        else:
            if self.area.get("type") not in ("Polygon", "MultiPolygon"):
                raise ValueError("a GeoJSON area is a Polygon or MultiPolygon in WGS 84")
            try:
                geom = shapely.from_geojson(_json(self.area))
            except shapely.errors.GEOSException as exc:
                raise ValueError(f"the area is not valid GeoJSON: {exc}") from None
            if not geom.is_valid or geom.is_empty:
                raise ValueError("the area polygon is empty or self-intersecting")
        shapely.prepare(geom)
        return geom


def _json(doc: dict[str, Any]) -> str:
    import orjson

    return str(orjson.dumps(doc).decode())


class Condition(_Frozen):
    """A leaf (threshold, rate, no data, geofence) or ``all``/``any`` of conditions."""

    metric: str | None = Field(None, min_length=1, max_length=200)
    raise_: float | None = Field(None, alias="raise")
    clear: float | None = None
    direction: Literal["above", "below"] | None = None
    change_per: Duration | None = None
    no_data: Duration | None = None
    geofence: Geofence | None = None
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None

    @property
    def kind(self) -> str:
        if self.all is not None:
            return "all"
        if self.any is not None:
            return "any"
        if self.geofence is not None:
            return "geofence"
        if self.no_data is not None:
            return "no_data"
        return "rate" if self.change_per is not None else "threshold"

    @property
    def below(self) -> bool:
        return self.direction == "below"

    @property
    def clear_level(self) -> float:
        assert self.raise_ is not None
        return self.raise_ if self.clear is None else self.clear

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        combos = [k for k in ("all", "any") if getattr(self, k) is not None]
        levels = [k for k in ("raise_", "clear", "direction", "change_per") if getattr(self, k)]
        if combos:
            others = [k for k in ("metric", "no_data", "geofence") if getattr(self, k)]
            if len(combos) > 1 or others or levels:
                raise ValueError("give `all` or `any` alone (each member is a condition)")
            if not getattr(self, combos[0]):
                raise ValueError(f"`{combos[0]}` needs at least one condition")
            return self
        if self.geofence is not None:
            if self.metric or levels or self.no_data is not None:
                raise ValueError("a geofence reads the lon and lat metrics it names; no levels")
            return self
        if self.metric is None:
            raise ValueError(
                "a condition needs a `metric` (with `raise`, or `no_data`), a `geofence`, "
                "or `all`/`any`"
            )
        if self.no_data is not None:
            if levels:
                raise ValueError("`no_data` takes no levels: it is true when the metric is silent")
            if self.no_data <= 0:
                raise ValueError("`no_data` must be longer than 0 s")
            return self
        if self.raise_ is None:
            raise ValueError(f"metric {self.metric!r} needs a `raise` level (and `clear`)")
        if self.change_per is not None and self.change_per <= 0:
            raise ValueError("`change_per` must be longer than 0 s (e.g. 1h)")
        return self._with_direction()

    def _with_direction(self) -> Condition:
        assert self.raise_ is not None
        inferred = (
            None
            if self.clear is None or self.clear == self.raise_
            else ("below" if self.clear > self.raise_ else "above")
        )
        if self.direction is None:
            object.__setattr__(self, "direction", inferred or "above")
        elif inferred is not None and inferred != self.direction:
            side = "at or below" if self.direction == "above" else "at or above"
            raise ValueError(
                f"direction {self.direction}: `clear` ({self.clear:g}) must be {side} "
                f"`raise` ({self.raise_:g}), or the rule would flap"
            )
        return self

    @cached_property
    def metric_set(self) -> frozenset[str]:
        """:meth:`metrics`, computed once (the evaluator asks for every observation)."""
        return self.metrics()

    @cached_property
    def leaf_list(self) -> tuple[tuple[str, Condition], ...]:
        """:meth:`leaves`, computed once."""
        return tuple(self.leaves())

    def metrics(self) -> frozenset[str]:
        """Every metric the condition reads."""
        if self.all is not None or self.any is not None:
            return frozenset().union(*(c.metrics() for c in (self.all or self.any or ())))
        if self.geofence is not None:
            return frozenset({self.geofence.lon, self.geofence.lat})
        assert self.metric is not None
        return frozenset({self.metric})

    def leaves(self, prefix: str = "c") -> list[tuple[str, Condition]]:
        """(key, leaf) of every leaf, keys stable for one definition (state memory keys)."""
        members = self.all if self.all is not None else self.any
        if members is None:
            return [(prefix, self)]
        return [leaf for i, c in enumerate(members) for leaf in c.leaves(f"{prefix}.{i}")]

    def has_no_data(self) -> bool:
        return any(leaf.no_data is not None for _, leaf in self.leaves())


class AlertSpec(_Frozen):
    severity: Literal[SEVERITIES] | None = None  # type: ignore[valid-type]
    message: str | None = None


class CommandSpec(_Frozen):
    """An MQTT command ``twin/{device}/cmd/{name}`` (JSON payload)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    payload: dict[str, Any] = Field(default_factory=dict)
    #: another device to command (default: the device the rule fired for)
    device: str | None = Field(None, pattern=_NAME)


class DownlinkSpec(_Frozen):
    """A LoRaWAN downlink through the network server's MQTT integration."""

    network: Literal["chirpstack", "tts"]
    application: str = Field(min_length=1, max_length=200, pattern=r"^[^/+#]+$")
    tenant: str | None = Field(None, pattern=r"^[^/+#@]+$")
    f_port: int = Field(1, ge=1, le=223)
    #: the payload's bytes in hexadecimal, or ``object`` for the device's codec to encode
    hex: str | None = Field(None, pattern=r"^(?:[0-9A-Fa-f]{2})*$")
    object: dict[str, Any] | None = None
    confirmed: bool = False

    @model_validator(mode="after")
    def _payload(self) -> DownlinkSpec:
        if (self.hex is None) == (self.object is None):
            raise ValueError("a downlink gives `hex` (its bytes) or `object` (for the codec)")
        return self


class WebhookSpec(_Frozen):
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(5.0, gt=0, le=60)


#: what an action may be (exactly one of them)
ACTION_KINDS = ("alert", "command", "downlink", "webhook", "flood")


class FloodSpec(_Frozen):
    """Run the flood analysis for the gauge the rule fired for and stream its extent on
    ``twin/live/flood/{device}`` (twin.analysis.flood.live)."""

    connectivity: Literal[4, 8] = 8


class Action(_Frozen):
    """One of ``alert``, ``command``, ``downlink``, ``webhook``, ``flood``; ``on`` firing or
    resolved (an alert opens on firing and resolves by itself)."""

    alert: AlertSpec | None = None
    command: CommandSpec | None = None
    downlink: DownlinkSpec | None = None
    webhook: WebhookSpec | None = None
    flood: FloodSpec | None = None
    on: Literal["firing", "resolved"] = "firing"

    @model_validator(mode="before")
    @classmethod
    def _bare_alert(cls, value: Any) -> Any:
        for bare in ("alert", "flood"):  # `- alert`, `- flood`, `- flood:` take the defaults
            if value == bare:
                return {bare: {}}
            if isinstance(value, dict) and bare in value and value.get(bare) in (True, None):
                return {**value, bare: {}}
        return value

    @model_validator(mode="after")
    def _one(self) -> Action:
        given = [k for k in ACTION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an action is one of alert, command, downlink, webhook or flood")
        return self

    @property
    def kind(self) -> str:
        for k in ACTION_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")


def _default_actions() -> tuple[Action, ...]:
    return (Action(alert=AlertSpec()),)


class Rule(Condition):
    """A named condition over a scope of devices, held ``for`` a time, and its actions."""

    name: str = Field(pattern=_NAME)
    description: str | None = Field(None, max_length=2000)
    enabled: bool = True
    where: Scope = Field(default_factory=Scope)
    for_: Duration = Field(0.0, alias="for")
    severity: Literal[SEVERITIES] = "warning"  # type: ignore[valid-type]
    message: str | None = Field(None, max_length=500)
    actions: tuple[Action, ...] = Field(default_factory=_default_actions)

    @model_validator(mode="after")
    def _template(self) -> Rule:
        for text in [self.message, *(a.alert.message for a in self.actions if a.alert)]:
            if text is None:
                continue
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                raise ValueError(f"message {text!r}: {exc} (write {{{{ for a brace)") from None
            unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
            if unknown:
                raise ValueError(
                    f"message names {', '.join(unknown)}: a message may use "
                    + ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
                )
        return self

    @property
    def condition(self) -> Condition:
        """The rule's condition alone (a rule is its own top-level condition)."""
        return self

    def alert_action(self) -> Action | None:
        return next((a for a in self.actions if a.alert is not None), None)

    def render(self, template: str | None, fields: dict[str, Any]) -> str:
        default = "{rule}: {metric} = {value} at {device}"
        return (template or self.message or default).format_map(
            {k: ("" if v is None else v) for k, v in fields.items()}
        )

    def public(self) -> dict[str, Any]:
        """As the API shows it (``for`` in seconds, levels by their own names)."""
        doc = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        doc["for"] = self.for_
        metrics = sorted(self.metrics())
        doc["metric"] = metrics[0] if len(metrics) == 1 else metrics
        doc["kind"] = self.kind
        levels = self.raise_ is not None
        doc["raise"] = self.raise_
        doc["clear"] = self.clear_level if levels else None
        return doc
