"""CityGML files the twin refuses, each with its file (and line) named and nothing written:
truncated (plain and gzip), not well-formed, a coordinate that is not a number, not CityGML,
a zip member in another CRS; and a DOCTYPE's external entity never read.

The files are written by the tests (:mod:`tests.citygml_data`, synthetic)."""

from __future__ import annotations

import contextlib
import gzip
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import pipeline, run_import
from tests.citygml_data import write_citygml
from tests.import_data import rows, snapshot
from tests.test_citygml import delft


def test_truncated_citygml_writes_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut in the last building, after two batches were written: all rolled back."""
    monkeypatch.setattr(pipeline, "BATCH", 1)
    path = write_citygml(tmp_path / "cut.gml", delft())
    data = path.read_text()
    path.write_text(data[: data.index('gml:id="NL.4"') + 200])
    lines = path.read_text().count("\n") + 1
    before = snapshot(engine)
    with pytest.raises(
        ImportFailed, match=rf"cut\.gml, line {lines}: not well-formed XML .*truncated"
    ):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before


def test_truncated_gz_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    plain = write_citygml(tmp_path / "cut.gml", delft())
    packed = gzip.compress(plain.read_bytes())
    path = tmp_path / "cut.gml.gz"
    path.write_bytes(packed[: len(packed) - 30])
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"cut\.gml\.gz"):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before


def test_invalid_xml_names_its_line(engine: Engine, tmp_path: Path) -> None:
    path = write_citygml(tmp_path / "bad.gml", delft())
    lines = path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if 'gml:id="NL.3"' in line)
    lines[k] = lines[k].replace("</bldg:Building>", "</bldg:Buildin>")
    path.write_text("\n".join(lines))
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=rf"bad\.gml, line {k + 1}: not well-formed XML"):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before


def test_a_coordinate_that_is_not_a_number_names_its_building(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_citygml(tmp_path / "nan.gml", delft())
    data = path.read_text()
    k = data.index('gml:id="NL.2"')
    path.write_text(data[:k] + data[k:].replace("85020.000", "85O20.000", 1))
    with pytest.raises(
        ImportFailed, match=r"nan\.gml, line \d+ \(Building 'NL\.2'\): coordinate '85O20"
    ):
        run_import(engine, path, layer="buildings")


def test_not_citygml_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plain.gml"
    path.write_text(
        '<?xml version="1.0"?><gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml"/>'
    )
    with pytest.raises(ImportFailed, match=r"plain\.gml: not a CityGML file"):
        run_import(engine, path, layer="buildings")
    good = write_citygml(tmp_path / "good.gml", delft())
    with pytest.raises(ImportFailed, match=r"--layer buildings only"):
        run_import(engine, good, layer="furniture")


def test_a_zip_member_in_another_crs_is_refused(engine: Engine, tmp_path: Path) -> None:
    houses = delft()
    a = write_citygml(tmp_path / "a.gml", houses[:2])
    b = write_citygml(tmp_path / "b.gml", houses[2:], srs="EPSG:2154")
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(a, "0001.gml")
        z.write(b, "0002.gml")
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"mixed\.zip, 0002\.gml, line 3: srsName 'EPSG:2154'"):
        run_import(engine, archive, layer="buildings")
    assert snapshot(engine) == before


def test_external_entities_are_not_read(engine: Engine, tmp_path: Path) -> None:
    """A file naming a local file as an entity (XXE) does not get it into the twin."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    path = write_citygml(tmp_path / "xxe.gml", delft()[:1])
    data = path.read_text()
    doctype = f'<!DOCTYPE core:CityModel [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
    data = data.replace("?>\n", "?>\n" + doctype, 1)
    path.write_text(data.replace("<gml:name>Huis</gml:name>", "<gml:name>&leak;</gml:name>"))
    with contextlib.suppress(ImportFailed):  # refusing the file is fine too
        run_import(engine, path, layer="buildings")
    dump = str(rows(engine, "SELECT name, attrs FROM buildings"))
    assert "TOPSECRET" not in dump
