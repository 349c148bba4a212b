"""Settings of a twin, from ``TWIN_*`` environment variables and a ``.env`` file.

Built by :func:`get_settings` and passed down explicitly (``create_app(settings)``), never
at import time, so tests can run several twins side by side.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geodata.crs import parse_crs

if TYPE_CHECKING:
    from sensors_bridge.topics import TopicRoute

#: Port of the project-managed PostgreSQL cluster: not 5432, so it never meets a system one.
DEFAULT_PG_PORT = 55432
#: Port of the project-managed Mosquitto: not 1883, where a system broker often runs.
DEFAULT_MQTT_PORT = 18830
#: Largest request body the server reads: the API takes no uploads, so 1 MiB is plenty.
DEFAULT_MAX_BODY_BYTES = 1 << 20


class Settings(BaseSettings):
    """Validated configuration. Every field maps to ``TWIN_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TWIN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="everything the twin writes lives here")
    database_url: str | None = Field(
        None, description="PostGIS URL; unset = project-managed cluster under data_dir/pg"
    )
    pg_port: int = Field(DEFAULT_PG_PORT, ge=1, le=65535)
    mqtt_url: str | None = Field(
        None,
        description="broker URL mqtt://host:port, or mqtts://host:8883 for TLS; unset = the "
        "embedded Mosquitto. User and password may be in it (percent-encoded)",
    )
    mqtt_ca_file: Path | None = Field(
        None,
        description="PEM certificate(s) that sign the broker's (mqtts:// only); unset = the "
        "system's trusted authorities",
    )
    mqtt_username: str | None = Field(None, description="broker user when the URL names none")
    mqtt_password: SecretStr | None = Field(
        None, description="broker password when the URL gives none"
    )
    mqtt_port: int = Field(
        DEFAULT_MQTT_PORT, ge=1, le=65535, description="where `twin broker start` listens"
    )
    mqtt_topics: str | None = Field(
        None,
        description="the bridge's topic mappings TOPIC=ADAPTER, comma-separated (e.g. "
        "city/{device}/{metric}=mqtt,v3/+/devices/+/up=tts); unset = twin/{device}/{metric}, "
        "The Things Stack v3 and ChirpStack v4 uplinks",
    )
    crs: str | None = Field(None, description="working CRS, e.g. EPSG:3067; projected, metres")
    storey_height: float = Field(3.0, gt=0, description="metres per storey for height fallback")
    default_height: float = Field(9.0, gt=0, description="height when nothing else is known")
    # -- analyses (twin/analysis/)
    timezone: str | None = Field(
        None,
        description="IANA time zone of naive times given to the analyses (e.g. Europe/Paris); "
        "unset = naive times are refused",
    )
    # scenario comparison (twin/analysis/scenario.py): the dwellings estimate's parameters
    dwelling_size: float = Field(
        80.0, gt=0, le=1000, description="gross floor area of one dwelling (m²), for the estimate"
    )
    residential_share: float = Field(
        0.85,
        gt=0,
        le=1,
        description="share of a residential building's floor area that is dwellings (the rest: "
        "walls, stairs, corridors)",
    )
    analysis_processes: int = Field(
        0, ge=0, description="processes casting rays (Embree holds the GIL); 0 = one per core"
    )
    dig_class_c_radius: float = Field(
        3.0,
        gt=0,
        le=50,
        description="uncertainty band (m) of a class-C (imprecise or unknown) network segment "
        "or node around a dig (twin analyse dig --class-c-radius overrides it)",
    )
    analysis_jobs: int = Field(
        2, ge=1, description="slow analyses (jobs) run at once by each app worker"
    )
    max_vertices: int = Field(
        500_000, ge=4, description="the most coordinates one imported feature may have"
    )
    # -- sign-in hardening (twin.tokens, twin.throttle): failures cost Argon2, so they are few
    auth_cache_seconds: float = Field(
        60.0, ge=0, description="a verified token is not hashed again for this long"
    )
    auth_hash_slots: int = Field(
        1, ge=1, le=64, description="token hashes verified at once (64 MiB of Argon2 each)"
    )
    auth_hash_queue: int = Field(
        4, ge=0, le=1000, description="sign-ins that may wait for a slot; more answer 503"
    )
    auth_failures_per_token: str = Field(
        "5/minute",
        description="failed sign-ins per token id before 429 (limits notation)",
        validate_default=False,  # see _check_rate
    )
    auth_failures_per_client: str = Field(
        "20/minute",
        description="failed sign-ins per client address before 429",
        validate_default=False,  # see _check_rate
    )
    # -- ingest limits per token (twin.throttle.RateLimits; 429 with Retry-After past them)
    ingest_requests_per_token: str = Field(
        "50/second",
        description="ingest requests one token may make (limits notation)",
        validate_default=False,  # see _check_rate
    )
    ingest_observations_per_token: str = Field(
        "5000/second",
        description="observations one token may send; a bigger body is a 413",
        validate_default=False,  # see _check_rate
    )
    # -- open aggregates of live data (twin opendata)
    opendata_min_k: int = Field(
        5, ge=2, le=1000, description="the smallest group size an open aggregate may declare"
    )
    # -- OpenID Connect bearer tokens beside the twin's own (twin.oidc); unset = off
    oidc_issuer: str | None = Field(None, description="the issuer's iss, e.g. https://id.example")
    oidc_audience: str | None = Field(None, description="the aud the issuer gives this twin")
    oidc_jwks_url: str | None = Field(None, description="where the issuer publishes its keys")
    oidc_role_claim: str = Field("twin_role", description="the claim holding the twin role")
    oidc_name_claim: str = Field("preferred_username", description="the claim naming the user")
    oidc_client_id: str | None = Field(
        None,
        description="the viewer's public client at the issuer (authorization code + PKCE); "
        "unset = the viewer offers token pasting only",
    )
    oidc_scopes: str = Field(
        "openid profile", description="scopes the viewer asks for, space-separated"
    )
    audit_flush_seconds: float = Field(
        2.0, gt=0, description="reads and sign-ins are written to the audit log in batches"
    )
    rules_enabled: bool = Field(
        True, description="evaluate rules on every stored observation (twin rules apply)"
    )
    rules_sweep_seconds: float = Field(
        15.0, gt=0, description="how often no-data rules are checked against the clock"
    )
    rules_retry_seconds: float = Field(
        2.0, gt=0, description="first retry delay of a failed rule action (doubles each time)"
    )
    rules_max_attempts: int = Field(
        8, ge=1, description="a rule action that failed this many times is marked failed"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="app worker processes `twin serve` starts on one port (each its own "
        "live hub, all fed by the broker)",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="proxies whose X-Forwarded-Proto/Host/Port/For are believed: addresses "
        "or networks, comma-separated, or * when only the proxy can reach the app",
    )
    publisher: str = Field(
        "Urban twin", description="who publishes the data catalogue (DCAT dct:publisher)"
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=0, description="larger request bodies are refused with 413"
    )
    sta_default_top: int = Field(
        100, ge=1, description="SensorThings: entities per page when a request gives no $top"
    )
    sta_max_top: int = Field(
        10_000, ge=1, description="SensorThings: the largest page; a larger $top is cut to it"
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="origins whose pages may call the API from a browser (comma-separated); "
        "empty = none: CORS is closed by default",
    )
    # -- the live layer (twin.live): state changes over the broker, the /ws/live hub
    live: bool = Field(
        True,
        description="publish stored observations to twin/live/state/... and serve /ws/live "
        "from what every app worker hears on twin/live/# (off: neither)",
    )
    live_coalesce_ms: int = Field(
        200, ge=10, le=60_000, description="/ws/live: at most one update per device this often"
    )
    live_client_queue: int = Field(
        10_000,
        ge=1,
        description="/ws/live: the most values one delta may carry (the latest per device and "
        "metric changed since the client's last one); a client further behind gets a resync "
        "and a fresh snapshot",
    )
    live_client_alerts: int = Field(
        200, ge=1, description="/ws/live: alerts one client may have waiting before a resync"
    )
    live_devices_seconds: float = Field(
        5.0,
        gt=0,
        description="how often each app worker reloads the devices' layer, visibility, "
        "status and location (a change reaches /ws/live within this time)",
    )
    live_publish_queue: int = Field(
        200_000,
        ge=1,
        description="state changes waiting for the broker in one process; more are dropped "
        "(the hub resyncs from the database when it reconnects)",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        scheme = urlsplit(v).scheme
        if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        raise ValueError(f"TWIN_DATABASE_URL must be a postgresql:// URL, got scheme {scheme!r}")

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parts = urlsplit(v)
        try:
            parts.port  # noqa: B018  # reading it checks it is a number in 0..65535
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("mqtt", "tcp", "mqtts") or not parts.hostname:
            raise ValueError(
                "TWIN_MQTT_URL must look like mqtt://host:1883 or, over TLS, mqtts://host:8883"
            )
        return v

    @field_validator("mqtt_topics")
    @classmethod
    def _check_topics(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        from geodata.errors import InputError
        from sensors_bridge.topics import parse_routes

        try:
            parse_routes(v)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _check_mqtt_tls(self) -> Settings:
        ca = self.mqtt_ca_file
        if ca is not None and not self.mqtt_tls:
            raise ValueError(
                "TWIN_MQTT_CA_FILE is set but TWIN_MQTT_URL is not mqtts://: "
                "write mqtts://host:8883 to use TLS, or unset TWIN_MQTT_CA_FILE"
            )
        if ca is not None and not ca.is_file():
            raise ValueError(f"TWIN_MQTT_CA_FILE: no file at {ca} (a PEM certificate)")
        return self

    @field_validator("crs")
    @classmethod
    def _check_crs(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        from geodata.errors import CRSError

        try:
            return f"EPSG:{parse_crs(v, require_projected=True)}"
        except CRSError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}: give an IANA name such as Europe/Paris"
            ) from None
        return v

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded(cls, v: str) -> str:
        from geodata.errors import ConfigError
        from twin.forwarded import parse_trusted

        try:
            parse_trusted(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _check_origins(cls, v: object) -> tuple[str, ...]:
        items = v.split(",") if isinstance(v, str) else list(v)  # type: ignore[call-overload]
        origins = tuple(str(o).strip().rstrip("/") for o in items if str(o).strip())
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https") or not parts.netloc or parts.path
            ):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme://host[:port] such as "
                    "https://city.example, comma-separated, or * for any"
                )
        return origins

    @field_validator(
        "auth_failures_per_token",
        "auth_failures_per_client",
        "ingest_requests_per_token",
        "ingest_observations_per_token",
    )
    @classmethod
    def _check_rate(cls, v: str) -> str:
        """A rate given in the environment must parse in the limits notation. The defaults are
        not checked (``validate_default=False``; ``tests/test_auth_throttle.py`` checks them): every
        command builds the settings, and the check imports limits (~15 ms)."""
        from limits import parse

        try:
            parse(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a rate: write it like 5/minute or 100/hour") from None
        return v

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        given = {"ISSUER": self.oidc_issuer, "AUDIENCE": self.oidc_audience}
        given["JWKS_URL"] = self.oidc_jwks_url
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(f"TWIN_OIDC_{k}" for k, v in given.items() if not v)
            raise ValueError(f"OpenID Connect needs issuer, audience and JWKS URL: set {missing}")
        if self.oidc_client_id and not self.oidc_issuer:
            raise ValueError(
                "TWIN_OIDC_CLIENT_ID is set but TWIN_OIDC_ISSUER is not: the viewer's sign-in "
                "needs the issuer, audience and JWKS URL too"
            )
        if self.oidc_client_id and "openid" not in self.oidc_scopes.split():
            raise ValueError(
                f"TWIN_OIDC_SCOPES is {self.oidc_scopes!r}: it must contain openid, or the "
                "issuer answers without an ID token and the viewer cannot check its nonce"
            )
        if self.oidc_issuer:
            parts = urlsplit(self.oidc_issuer)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"TWIN_OIDC_ISSUER {self.oidc_issuer!r} is not a URL: give the issuer's "
                    "https:// address, exactly as its tokens' iss claim spells it"
                )
        return self

    @property
    def oidc_origin(self) -> str | None:
        """The issuer's origin, which the viewer's CSP lets it fetch (discovery, tokens)."""
        if not self.oidc_issuer:
            return None
        parts = urlsplit(self.oidc_issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def embedded_db(self) -> bool:
        return self.database_url is None

    @cached_property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @cached_property
    def tiles_dir(self) -> Path:
        return self.data_dir / "tiles"

    @cached_property
    def analysis_dir(self) -> Path:
        """Cached analysis results (by their inputs' key) and job states: files, so that any
        app worker can answer for a job another one runs."""
        return self.data_dir / "analysis"

    @property
    def mqtt_tls(self) -> bool:
        """TLS to the broker: TWIN_MQTT_URL is mqtts://."""
        return bool(self.mqtt_url) and urlsplit(self.mqtt_url or "").scheme == "mqtts"

    @property
    def mqtt_address(self) -> tuple[str, int]:
        """The broker every command talks to: TWIN_MQTT_URL's, or the embedded one's."""
        if self.mqtt_url:
            parts = urlsplit(self.mqtt_url)
            return parts.hostname or "127.0.0.1", parts.port or (8883 if self.mqtt_tls else 1883)
        return "127.0.0.1", self.mqtt_port

    @property
    def mqtt_routes(self) -> tuple[TopicRoute, ...]:
        """The bridge's topic mappings: TWIN_MQTT_TOPICS, or the default ones."""
        from sensors_bridge.topics import DEFAULT_ROUTES, parse_routes

        return parse_routes(self.mqtt_topics) if self.mqtt_topics else DEFAULT_ROUTES

    @property
    def mqtt_login(self) -> tuple[str | None, str | None]:
        """(user, password): TWIN_MQTT_URL's (``mqtts://bridge:secret@host``, percent-decoded),
        else TWIN_MQTT_USERNAME and TWIN_MQTT_PASSWORD."""
        parts = urlsplit(self.mqtt_url or "")
        secret = self.mqtt_password.get_secret_value() if self.mqtt_password else None
        user = unquote(parts.username) if parts.username else self.mqtt_username
        password = unquote(parts.password) if parts.password else secret
        return user, password

    @property
    def sqlalchemy_url(self) -> str:
        """The URL the app connects with: the configured one or the embedded cluster's."""
        if self.database_url:
            return self.database_url
        return f"postgresql+psycopg://twin@127.0.0.1:{self.pg_port}/twin"


def get_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise ConfigError with every problem listed."""
    from pydantic import ValidationError

    from geodata.errors import ConfigError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            f"TWIN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
