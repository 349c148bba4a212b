"""SensorThings query options and ``$filter`` translation as pure functions (no database):
what SQL an expression becomes, that values only ever travel as bind parameters, and that
every malformed option or unknown name is a 400 naming it."""

from __future__ import annotations

import pytest

from geodata.errors import InputError
from sensors_bridge.sta.entities import ENTITY_SETS
from sensors_bridge.sta.filter import Builder, order_sql, where_sql
from sensors_bridge.sta.options import Expand, Options, parse_options, split_top


def sql(entity: str, expr: str) -> tuple[str, dict[str, object]]:
    builder = Builder()
    return where_sql(ENTITY_SETS[entity], "a", expr, builder), builder.params


def test_comparisons_logic_and_arithmetic() -> None:
    text, params = sql("Observations", "result add 2 gt 20 and not (resultQuality eq 'bad')")
    assert text == (
        '(((a."result" + CAST(:f0 AS numeric)) > CAST(:f1 AS numeric)) AND '
        '(NOT (a."resultQuality" = CAST(:f2 AS text))))'
    )
    assert params == {"f0": 2, "f1": 20, "f2": "bad"}
    text, _ = sql("Observations", "result div 0 eq 1 or result mod 3 eq 1")
    assert "NULLIF" in text  # a division by zero is null, not a database error


def test_values_are_never_in_the_sql() -> None:
    evil = "x'; DROP TABLE devices; --"
    text, params = sql("Things", f"name eq '{evil.replace(chr(39), chr(39) * 2)}'")
    assert "DROP" not in text and params == {"f0": evil}


def test_time_functions_read_utc() -> None:
    text, params = sql("Observations", "year(phenomenonTime) eq 2026 and hour(resultTime) lt 12")
    assert "EXTRACT(YEAR FROM (a.\"phenomenonTime\" AT TIME ZONE 'UTC'))" in text
    text, params = sql("Observations", "phenomenonTime ge 2026-12-01T10:00:00+02:00")
    assert params["f0"].isoformat() == "2026-12-01T10:00:00+02:00"  # type: ignore[attr-defined]
    text, _ = sql("Observations", "date(phenomenonTime) eq 2026-12-01 and phenomenonTime le now()")
    assert "now()" in text and "AS date" in text
    text, params = sql("Observations", "phenomenonTime gt '2026-12-01T00:00:00Z'")
    assert "timestamptz" in text  # a quoted time compared with a time is a time


def test_spatial_functions_take_wgs84_wkt() -> None:
    polygon = "POLYGON((24 60, 26 60, 26 61, 24 61, 24 60))"
    text, params = sql("Things", f"st_within(Locations/location, geography'{polygon}')")
    assert text.startswith('ST_Within((SELECT s1."location" FROM (')
    assert "ST_GeomFromText(:f0, 4326)" in text and params["f0"].startswith("POLYGON")  # type: ignore[attr-defined]
    text, _ = sql("Locations", f"st_intersects(location, geography'SRID=4326;{polygon}')")
    assert text.startswith('ST_Intersects(a."location"')


def test_navigation_paths_are_subqueries_over_visible_views() -> None:
    text, params = sql("Observations", "Datastream/ObservedProperty/name eq 'pm10'")
    assert "FROM observed_properties op" in text and 's2."metric" = s1."metric"' in text
    assert params == {"f0": "pm10"}
    text, _ = sql("Things", "properties/type eq 'gauge'")
    assert '(a."properties" #>> :f0)' in text


@pytest.mark.parametrize(
    ("entity", "expr", "message"),
    [
        ("Things", "foo eq 1", "Things have no property 'foo'"),
        ("Things", "name eq", "$filter 'name eq': incomplete"),
        ("Things", "name eq 'open", "unexpected"),
        ("Things", "name eq 3", "cannot compare a string with a number"),
        ("Things", "name", "expected a condition, got a string"),
        ("Things", "Datastreams/name eq 'a'", "Thing/Datastreams is a collection"),
        ("Things", "Locations eq 1", "navigation property of Things"),
        ("Things", "hassubset(name, 'a')", "unknown function 'hassubset'"),
        ("Things", "year(name) eq 1", "year() argument 1 must be a"),
        ("Things", "st_within(name, 1)", "st_within() argument 1"),
        ("Things", "st_within(name)", "st_within() takes 2 argument(s), got 1"),
        ("Locations", "st_within(location, geography'POLYGON((0 0, 1 1')", "not WKT"),
        ("Locations", "st_within(location, geography'POINT(400000 6600000)')", "WGS 84"),
        ("Observations", "phenomenonTime gt 2026-02-30T00:00:00Z", "no time"),
        ("Observations", "result gt null", "null can only be compared with eq or ne"),
        ("Datastreams", "phenomenonTime gt now()", "time interval"),
        ("Observations", "result gt 1e400", "too large"),
    ],
)
def test_bad_filters_are_400_naming_what(entity: str, expr: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        sql(entity, expr)
    assert caught.value.http_status == 400 and message in str(caught.value)
    assert str(caught.value).startswith("$filter")


def test_orderby_expressions() -> None:
    builder = Builder()
    assert order_sql(ENTITY_SETS["Observations"], "a", "result", builder) == 'a."result"'
    with pytest.raises(InputError, match=r"\$orderby 'parameters': a object has no order"):
        order_sql(ENTITY_SETS["Observations"], "a", "parameters", builder)


def test_options_nested_expand_and_paths() -> None:
    got = parse_options(
        {
            "$expand": "Datastreams($select=name;$expand=Observations($top=2;"
            "$orderby=phenomenonTime desc)),Locations,Datastreams/Sensor",
            "$top": "5",
            "$count": "true",
            "$orderby": "name desc, id",
            "f": "json",  # not SensorThings': left alone
        }
    )
    assert got.top == 5 and got.count and got.orderby == (("name", True), ("id", False))
    first, second, third = got.expand
    assert first.nav == "Datastreams" and first.options.select == ("name",)
    (inner,) = first.options.expand
    assert inner.nav == "Observations" and inner.options.top == 2
    assert inner.options.orderby == (("phenomenonTime", True),)
    assert second == Expand("Locations", Options())
    assert third.nav == "Datastreams" and third.options.expand[0].nav == "Sensor"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$top": "-1"}, "$top='-1': give a whole number"),
        ({"$skip": "x"}, "$skip='x'"),
        ({"$count": "yes"}, "$count='yes': give true or false"),
        ({"$filter": " "}, "$filter is empty"),
        ({"$select": "name,,id"}, "$select='name,,id'"),
        ({"$expand": "Datastreams($top=1"}, "not closed"),
        ({"$expand": "Datastreams(top=1)"}, "$expand option 'top=1'"),
        ({"$expand": "Datastreams/"}, "an empty navigation property"),
        ({"$expand": "A/B/C/D/E/F"}, "at most 4 levels"),
        ({"$orderby": "name desc,"}, "an empty item"),
        ({"$format": "csv"}, "unknown query option '$format'"),
    ],
)
def test_bad_options_are_400_naming_the_option(params: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_options(params)
    assert message in str(caught.value)


def test_split_top_respects_quotes_and_parentheses() -> None:
    assert split_top("a(b,c),'d,e',f", ",") == ["a(b,c)", "'d,e'", "f"]
    with pytest.raises(InputError, match="closes nothing"):
        split_top("a)", ",")


def test_keyset_tokens_round_trip_and_refuse_forgeries() -> None:
    from datetime import UTC, datetime

    from sensors_bridge.sta import keyset

    obs = ENTITY_SETS["Observations"]
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    token = keyset.encode(obs, {"phenomenonTime": at, "id": 42})
    assert keyset.decode(obs, token) == [at, 42]
    builder = Builder()
    cond = keyset.after(obs, "a", [builder.bind(v) for v in keyset.decode(obs, token)])
    assert cond == '(a."phenomenonTime" <= :f0 AND (a."phenomenonTime", a."id") < (:f0, :f1))'
    things = ENTITY_SETS["Things"]
    for forged in ["!!", "bm9wZQ", keyset.encode(things, {"id": True}), token]:
        with pytest.raises(InputError, match="not one this server wrote"):
            keyset.decode(things, forged)
    with pytest.raises(InputError):
        keyset.decode(things, keyset.encode(things, {"id": 2**70}))
