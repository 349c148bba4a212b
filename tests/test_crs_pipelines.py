"""geodata.pipelines: PROJ's operation kept between processes only where it cannot change,
and the same coordinates either way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from geodata import pipelines


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return pipelines.cache_file()


def _no_search(*args: object, **kw: object) -> Transformer:
    raise AssertionError("searched PROJ's database")


def _kept(cache: Path) -> dict[str, str]:
    return dict(json.loads(cache.read_text())["pipelines"])


@pytest.mark.parametrize(("src", "dst"), [(2154, 4326), (4326, 2154), (3067, 4326), (4978, 4979)])
def test_a_single_operation_is_kept_and_gives_the_same_coordinates(
    cache: Path, src: int, dst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched = pipelines.transformer(src, dst)
    assert _kept(cache)[f"EPSG:{src}>EPSG:{dst}"] == searched.to_json()
    with monkeypatch.context() as m:  # a later process: made from what was kept, no search
        m.setattr(pipelines.Transformer, "from_crs", _no_search)
        kept = pipelines.transformer(src, dst)
    assert kept.definition == searched.definition  # the same operation, and its CRSs too
    assert kept.source_crs == searched.source_crs and kept.target_crs == searched.target_crs
    reference = Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)
    rng = np.random.default_rng(1)
    if src == 4326:
        x, y, z = rng.uniform(-4, 8, 50), rng.uniform(42, 51, 50), rng.uniform(0, 900, 50)
    elif src == 4978:
        x, y, z = (
            4.2e6 + rng.uniform(0, 1e4, 50),
            1.7e5 + rng.uniform(0, 1e4, 50),
            np.full(50, 4.8e6),
        )
    else:
        x, y, z = rng.uniform(2e5, 9e5, 50), rng.uniform(6.2e6, 7.0e6, 50), rng.uniform(0, 900, 50)
    for got in (searched.transform(x, y, z), kept.transform(x, y, z)):
        assert np.array_equal(np.asarray(got), np.asarray(reference.transform(x, y, z)))


def test_pairs_that_may_change_answer_are_searched_every_time(cache: Path) -> None:
    # ED50 -> WGS 84: dozens of operations, picked per point by area of use;
    # NTF Lambert II -> Lambert-93: the best one needs a grid that may be installed later
    for src, dst in ((4230, 4326), (27572, 2154)):
        got = pipelines.transformer(src, dst)
        assert _kept(cache)[f"EPSG:{src}>EPSG:{dst}"] == ""
        again = pipelines.transformer(src, dst)
        assert again.definition == got.definition
        ref = Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)
        pt = (2.35, 48.85) if src == 4230 else (600000.0, 2430000.0)
        assert again.transform(*pt) == ref.transform(*pt)


def test_a_damaged_or_foreign_cache_is_ignored(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert pipelines.transformer(2154, 4326).transform(700000, 6600000) == pytest.approx((3, 46.5))
    assert "EPSG:2154>EPSG:4326" in _kept(cache)  # rewritten whole
    doc = json.loads(cache.read_text())
    doc["pipelines"]["EPSG:2154>EPSG:4326"] = "proj=pipeline step proj=nonsense"
    cache.write_text(json.dumps(doc))
    assert pipelines.transformer(2154, 4326).transform(700000, 6600000) == pytest.approx((3, 46.5))
    doc = json.loads(cache.read_text())
    doc["proj_data"] = "/another/proj/data"  # PROJ_DATA pointed elsewhere: not ours to trust
    doc["pipelines"]["EPSG:2154>EPSG:4326"] = "proj=pipeline step proj=noop"
    cache.write_text(json.dumps(doc))
    assert pipelines.transformer(2154, 4326).transform(700000, 6600000) == pytest.approx((3, 46.5))


def test_an_unwritable_cache_folder_costs_only_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where a folder should be
    assert pipelines.transformer(2154, 4326).transform(700000, 6600000) == pytest.approx((3, 46.5))


@pytest.mark.parametrize("epsg", [3067, 2154, 3946])
def test_the_served_box_is_the_same_with_the_pipeline_kept(cache: Path, epsg: int) -> None:
    """The Features API's box around a CRS's area of use, computed in a first process (the
    pipeline searched) and in a later one (the pipeline kept): the same, and not the Earth."""
    from geodata import crs

    def fresh() -> tuple[float, float, float, float]:
        crs.served_box.cache_clear()
        crs.transformer.cache_clear()
        return crs.served_box(epsg)

    first = fresh()
    pipelines.transformer(4326, epsg)  # an import, say, kept the pipeline meanwhile
    assert _kept(cache)[f"EPSG:4326>EPSG:{epsg}"]  # what a later process finds
    later = fresh()
    assert later == first
    x0, y0, x1, y1 = later
    assert x1 - x0 < 5e6 and y1 - y0 < 5e6  # a country's box, not the Earth's 4e7
    crs.served_box.cache_clear()
    crs.transformer.cache_clear()
