"""Schemathesis against the real app, the real database and the role-matrix world: every
operation of the OpenAPI document, every check (status codes, content types, response schemas,
headers, negative data rejected, positive data accepted, unsupported methods, auth), for an
anonymous caller and an admin. Zero failures means the document and the server agree.

JSON Schema cannot say "the lower corner below the upper one", "a CRS the database knows",
"a time span", "an instant" or "at most 5 minutes ahead", so the document names five
formats, ``bbox``, ``crs``, ``since``, ``instant`` and ``observed-at``; the strategies below
generate values of them (the server's own rules), while the ``bbox`` pattern still drives
the negative cases.
The budget is 20 examples per operation (about two and a half minutes here for the 139
operations of the document, the longest test of the suite; 40 took 3.7 minutes);
``TWIN_API_FUZZ_EXAMPLES=N`` draws more.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from sqlalchemy import Engine

from geodata.crs import CRS84_URI, CRS84H_URI
from sensors_bridge.sta.entities import ENTITY_SETS
from tests.test_access_matrix import World, seed_world
from twin.app import create_app
from twin.settings import Settings

# -- the formats JSON Schema cannot express ----------------------------------------------
_EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRSS = [CRS84_URI, CRS84H_URI, f"{_EPSG}4326", f"{_EPSG}3067", "EPSG:3857", "EPSG:4258"]


@st.composite
def _bbox(draw: st.DrawFn) -> str:
    """An ordered box valid in every CRS of ``CRSS`` (within -90..90 on both axes, so a
    lat,lon CRS such as EPSG:4326 reads it as well as a lon,lat or projected one)."""
    coord = st.floats(-90, 90, allow_nan=False).map(lambda v: round(v, 6))
    x1, x2 = sorted([draw(coord), draw(coord)])
    y1, y2 = sorted([draw(coord), draw(coord)])
    numbers = [x1, y1, x2, y2]
    if draw(st.booleans()):
        z1, z2 = sorted([draw(coord), draw(coord)])
        numbers = [x1, y1, z1, x2, y2, z2]
    return ",".join(repr(n) for n in numbers)


schemathesis.openapi.format("bbox", _bbox())
schemathesis.openapi.format("crs", st.sampled_from(CRSS))
#: the audit log's ``since``: a span ago, or a date or time
_SINCE = st.one_of(
    st.tuples(st.integers(0, 10**5), st.sampled_from("mhd")).map(lambda t: f"{t[0]}{t[1]}"),
    st.datetimes().map(lambda d: d.isoformat()),
)
schemathesis.openapi.format("since", _SINCE)
#: a stop's departures ``at``: epoch seconds, or an ISO 8601 time with its offset
_INSTANT = st.one_of(
    st.integers(0, 253_370_764_799).map(str),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.timezones()
    ).map(lambda d: d.isoformat()),
)
schemathesis.openapi.format("instant", _INSTANT)
#: an observation time the ingest route accepts: RFC 3339, at most 5 minutes ahead
_OBSERVED_AT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
).map(datetime.isoformat)
schemathesis.openapi.format("observed-at", _OBSERVED_AT)


#: SensorThings' OData options (the grammar is no JSON Schema): expressions valid on every
#: entity set, and for $expand each set's own navigation properties
_ID = st.integers(-5, 10**6)
schemathesis.openapi.format(
    "sta-filter",
    st.one_of(
        _ID.map(lambda n: f"id ge {n}"),
        st.tuples(_ID, _ID).map(lambda t: f"id eq {t[0]} or not (id lt {t[1]})"),
        _ID.map(lambda n: f"(id add {n}) mod 7 eq 0"),
    ),
)
schemathesis.openapi.format("sta-orderby", st.sampled_from(["id", "id desc", "id asc, id"]))
for _entity in ENTITY_SETS.values():
    schemathesis.openapi.format(
        f"sta-expand-{_entity.name}",
        st.lists(st.sampled_from(list(_entity.navs)), min_size=1, max_size=2).map(",".join),
    )

#: routes whose bodies JSON Schema cannot describe exactly, and the checks that assume it can
NETWORK_SERVER_ROUTES = frozenset({"/api/ingest/tts", "/api/ingest/chirpstack"})
#: a rule file is YAML text: its grammar (tests/test_rules_parse.py) is no JSON Schema
TEXT_BODY_ROUTES = frozenset({"/api/rules"})
#: a scenario's new buildings: a footprint, a GeoJSON document or a CityJSON one, whose
#: geometry rules (a valid polygon, a height or levels) JSON Schema does not state;
#: tests/test_scenarios.py tests their validation
GEOMETRY_BODY_ROUTES = frozenset({"/api/scenarios/{slug}/buildings"})
#: an analysis' own route (not its jobs, results or the list): not fuzzed, see ``api``
ANALYSIS_RUNS = r"^/api/analysis/(?!jobs/|results/)[^/]+$"
#: a CQL2 filter's language is a second parameter (a JSON filter with filter-lang=cql2-text is
#: rightly refused), and the crs offered depend on the twin's working CRS: schema-valid
#: combinations can be refused here; tests/test_features_filter.py checks them, and the
#: filter parser is fuzzed there
FEATURE_ITEMS = frozenset(
    {"/collections/{collection_id}/items", "/collections/{collection_id}/items/{feature_id}"}
)
DATA_CHECKS = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture(scope="module")
def fuzz_world(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from fastapi.testclient import TestClient

    data = Path(tmp_path_factory.mktemp("fuzz"))
    twin = Settings(
        database_url=module_engine.url.render_as_string(hide_password=False),
        data_dir=data / "var",
        _env_file=None,
    )
    with TestClient(create_app(twin, engine=module_engine)) as client:
        yield seed_world(module_engine, twin, client)


@pytest.fixture(scope="module")
def api(fuzz_world: World) -> schemathesis.schemas.BaseSchema:
    # the analyses themselves are not fuzzed here: each runs seconds of rays, fits or fills
    # per call (40 examples x 2 principals each would be this test's whole budget); their
    # validation is tested per analysis and their access by the route walk
    # (tests/test_route_walk.py::test_every_analysis), which also asks them on every role
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.client.app)


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis's lazy schema renames the test node per operation through ``_nodeid``,
    which pytest 9 no longer sets: give it the node's id to start from."""
    request.node._nodeid = request.node.nodeid


#: examples per operation (derandomised: the same cases every run)
EXAMPLES = int(os.environ.get("TWIN_API_FUZZ_EXAMPLES", "20"))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_what_its_openapi_document_says(case: Case, fuzz_world: World) -> None:
    # a network server's message has a shape JSON Schema cannot state (a codec's output holds
    # at least one number among values of any kind; Protobuf bytes): for those routes the
    # statuses, responses and server errors are checked, and their decoders are fuzzed
    # directly (tests/test_lorawan_decode.py)
    if re.match(ANALYSIS_RUNS, case.path):  # not fuzzed: see ``api``
        return
    beyond_schema = case.path in NETWORK_SERVER_ROUTES | TEXT_BODY_ROUTES | GEOMETRY_BODY_ROUTES
    excluded = (
        DATA_CHECKS
        if beyond_schema
        else [positive_data_acceptance]
        if case.path in FEATURE_ITEMS
        else None
    )
    for principal in ("anonymous", "admin"):
        case.call_and_validate(headers=fuzz_world.headers[principal], excluded_checks=excluded)
