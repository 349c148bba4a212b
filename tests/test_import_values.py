"""Attribute values that cannot be stored (#14 defect 6): out of range for their column
(PostgreSQL's limits, plausible storeys and years), not numbers, not finite. They used to raise
a TypeError (levels 1e25, a 20-digit string) or vanish into NULL with "skipped 0" (year_built
1e30, levels "many"). Now each is stored as unknown and counted in the summary with the
attribute named; a fractional storey count is rounded and counted as repaired; a mapping's
constant that cannot be stored is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import run_import
from tests.import_data import HELSINKI_LONLAT, feature, project, rect, rows, snapshot, write_geojson

X, Y = project(*HELSINKI_LONLAT, 3067)
FIN = "urn:ogc:def:crs:EPSG::3067"


def _houses(tmp_path: Path, *props: dict[str, object]) -> Path:
    return write_geojson(
        tmp_path / "odd_values.geojson",
        [feature(rect(X + 40 * i, Y), gml_id=f"b{i}", **p) for i, p in enumerate(props)],
        crs=FIN,
    )


def test_unusable_values_are_stored_as_unknown_and_counted(engine: Engine, tmp_path: Path) -> None:
    path = _houses(
        tmp_path,
        {"levels": 1e25},
        {"levels": "12345678901234567890"},
        {"levels": "many"},
        {"levels": 2.6, "year_built": 1e30},
        {"levels": 4, "year_built": "1930-05-01", "height": "tall"},
        {"levels": -3, "year_built": "the twenties", "height": 12},
        {"levels": 3_000_000_000, "year_built": 1899},
    )

    report = run_import(engine, path, layer="buildings")

    assert (report.read, report.inserted) == (7, 7)
    assert report.values.skipped == {
        "levels: outside 0..300": 4,
        "levels: not a number": 1,
        "year_built: outside 1000..2100": 1,
        "year_built: not a year": 1,
        "height: not a number": 1,
    }
    assert report.values.repaired == {"levels: rounded to a whole number": 1}
    got = rows(engine, "SELECT source_id, levels, year_built FROM buildings ORDER BY source_id")
    assert got == [
        ("b0", None, None),
        ("b1", None, None),
        ("b2", None, None),
        ("b3", 3, None),
        ("b4", 4, 1930),
        ("b5", None, None),
        ("b6", None, 1899),
    ]
    summary = "\n".join(report.lines())
    # the column mixes numbers and text, so GDAL reads it as text: examples are its strings
    assert "  skipped 4 values of levels: outside 0..300 (e.g. '1.0000000000000001e+25')" in (
        summary
    )
    assert "  skipped 1 value of levels: not a number (e.g. 'many'); stored as unknown" in summary
    assert "  skipped 1 value of year_built: outside 1000..2100 (e.g. '1e+30')" in summary
    assert "  repaired 1 value of levels: rounded to a whole number (e.g. '2.6" in summary


def test_the_source_attribute_is_named_beside_the_column(engine: Engine, tmp_path: Path) -> None:
    path = _houses(tmp_path, {"building:levels": "lots"}, {"building:levels": "3"})
    report = run_import(engine, path, layer="buildings")
    assert report.values.skipped == {"building:levels (levels): not a number": 1}
    assert rows(engine, "SELECT levels FROM buildings ORDER BY source_id") == [(None,), (3,)]


def test_network_years_follow_the_tables_range(engine: Engine, tmp_path: Path) -> None:
    import shapely

    line = shapely.LineString([(X, Y), (X + 30, Y)])
    path = write_geojson(
        tmp_path / "pipes.geojson",
        [
            feature(line, gml_id="p0", network="water", install_year=1650),
            feature(line, gml_id="p1", network="water", install_year="1965"),
            feature(line, gml_id="p2", network="water", diameter_mm="wide"),
        ],
        crs=FIN,
    )
    report = run_import(engine, path, layer="networks")
    assert report.values.skipped == {
        "install_year: outside 1700..2100": 1,
        "diameter_mm: not a number": 1,
    }
    got = rows(engine, "SELECT install_year FROM network_segments ORDER BY source_id")
    assert got == [(None,), (1965,), (None,)]


@pytest.mark.parametrize(
    ("constant", "reason"),
    [('"many"', "not a number"), ("1e25", r"outside 0\.\.300"), ("-1", r"outside 0\.\.300")],
)
def test_a_constant_that_cannot_be_stored_is_refused(
    engine: Engine, tmp_path: Path, constant: str, reason: str
) -> None:
    path = _houses(tmp_path, {"height": 10})
    mapping = tmp_path / "levels.toml"
    mapping.write_text(f"[constants]\nlevels = {constant}\n")
    before = snapshot(engine)
    with pytest.raises(
        ImportFailed, match=r"\[constants\] levels = .* cannot be stored \(" + reason
    ):
        run_import(engine, path, layer="buildings", mapping=mapping)
    assert snapshot(engine) == before


def test_text_with_unicode_line_separators_stays_one_attribute(
    engine: Engine, tmp_path: Path
) -> None:
    """Found by the fuzzer: U+0085 and U+2028 in a value split the attrs rows in two."""
    note = "first\x85second\u2028third"
    report = run_import(
        engine, _houses(tmp_path, {"note": note}, {"note": "plain"}), layer="buildings"
    )
    assert report.inserted == 2
    got = rows(engine, "SELECT attrs FROM buildings ORDER BY source_id")
    assert got == [({"note": note},), ({"note": "plain"},)]
