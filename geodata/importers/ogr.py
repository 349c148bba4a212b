"""GeoJSON, GeoPackage, Shapefile (plain or zipped) and FlatGeobuf, through GDAL (pyogrio).

Features are streamed as Arrow record batches (``pyogrio.raw.open_arrow``): memory stays flat
whatever the file size, the WKB geometries go on to validation without a Python loop, and
the attributes go on to the mapping as the Arrow table GDAL filled (no pandas is loaded: see
:mod:`geodata.importers.lean`). GDAL also reads the legacy GeoJSON ``crs`` member and the
Shapefile ``.prj``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from geodata.crs import parse_crs
from geodata.errors import CRSError, ImportFailed
from geodata.importers.base import Reader, SourceBatch
from geodata.importers.lean import pyogrio as _start_pyogrio

pyogrio = _start_pyogrio()
from pyogrio.errors import DataLayerError, DataSourceError  # noqa: E402  (pyogrio first)

# GDAL's GeoPackage reader prefetches Arrow batches on threads of their own, each with its own
# SQLite connection and buffers: 10 MB more peak memory for a 100k import, for no speed here
# (the COPY worker and the server use the other core already); a user's setting wins
if "OGR_GPKG_NUM_THREADS" not in os.environ:
    pyogrio.set_gdal_config_options({"OGR_GPKG_NUM_THREADS": 1})


class OgrReader(Reader):
    name = "ogr"
    unique_ids = True  # FIDs
    suffixes = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """Any file of these endings, except a ``.json`` that is CityJSON."""
        if path.name.lower().endswith(".json") and b'"CityJSON"' in head:
            return False
        return super().sniff(path, head)

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__(path, layer)
        self._crs: int | None = None
        self._count: int | None = None
        self._ogr_layer: str | None = None
        self._crs_problem: str | None = None

    def open(self) -> None:
        try:
            layers = pyogrio.list_layers(self.path)
        except (DataSourceError, DataLayerError, OSError) as exc:
            raise ImportFailed(
                f"{self.path}: GDAL cannot read this file ({_first_line(exc)}); "
                "is it complete and in a supported format (GeoJSON, GeoPackage, Shapefile)?"
            ) from None
        names = [str(n) for n in layers[:, 0]] if len(layers) else []
        if not names:
            raise ImportFailed(f"{self.path}: the file has no layer")
        if len(names) == 1:
            self._ogr_layer = names[0]
        elif self.layer in names:
            self._ogr_layer = self.layer
        else:
            raise ImportFailed(
                f"{self.path}: the file has several layers ({', '.join(names)}) and none is "
                f"named {self.layer!r}: export the one to import into its own file"
            )
        try:
            info = pyogrio.read_info(self.path, layer=self._ogr_layer)
        except (DataSourceError, DataLayerError) as exc:
            raise ImportFailed(f"{self.path}: cannot read ({_first_line(exc)})") from None
        self._count = int(info["features"]) if info.get("features", -1) >= 0 else None
        member = _geojson_crs_member(self.path)
        if member and not _known_crs(member):
            self._crs_problem = (
                f"{self.path}: the file's crs member names an unknown CRS ({member[:80]}): "
                "give the right one with --crs EPSG:XXXX"
            )
            return
        crs = info.get("crs")
        if crs:
            try:
                self._crs = parse_crs(crs)
            except CRSError:
                self._crs_problem = (
                    f"{self.path}: the file's CRS is unknown or has no EPSG code "
                    f"({crs[:80]}): give the right one with --crs EPSG:XXXX"
                )

    def source_crs(self) -> int | None:
        """The file's EPSG code. A CRS problem is raised here rather than in :meth:`open`,
        so that ``--crs`` (which skips this call) can override a bad or unknown one."""
        if self._crs_problem:
            raise ImportFailed(self._crs_problem)
        return self._crs

    def count(self) -> int | None:
        return self._count

    def batches(self, size: int) -> Iterator[SourceBatch]:
        try:
            with pyogrio.raw.open_arrow(
                self.path,
                layer=self._ogr_layer,
                batch_size=size,
                use_pyarrow=True,
                return_fids=True,
            ) as (meta, stream):
                geom_col = meta["geometry_name"] or "wkb_geometry"
                fid_col = meta.get("fid_column") or "OGC_FID"
                for batch in stream:
                    if batch.num_rows == 0:
                        continue
                    fids = pc.cast(batch.column(fid_col), pa.string())
                    wkb = batch.column(geom_col).to_numpy(zero_copy_only=False)
                    props = pa.Table.from_batches([batch.drop_columns([geom_col, fid_col])])
                    where = pc.binary_join_element_wise("feature ", fids, "")
                    yield SourceBatch(
                        geoms=wkb,
                        props=props,
                        ids=fids.to_numpy(zero_copy_only=False),
                        where=where.to_numpy(zero_copy_only=False),
                    )
        except (DataSourceError, DataLayerError) as exc:
            raise ImportFailed(
                f"{self.path}: reading stopped ({_first_line(exc)}); is the file truncated?"
            ) from None
        except OSError as exc:  # pyarrow surfaces GDAL read errors as OSError
            raise ImportFailed(
                f"{self.path}: reading stopped ({_first_line(exc)}); is the file truncated?"
            ) from None


#: the legacy (2008) GeoJSON ``"crs": {"type": "name", "properties": {"name": ...}}`` member
_GEOJSON_CRS = re.compile(rb'"crs"\s*:\s*\{[^{}]*"properties"\s*:\s*\{[^{}]*"name"\s*:\s*"([^"]+)"')


def _geojson_crs_member(path: Path) -> str | None:
    """The CRS name of a GeoJSON's legacy ``crs`` member, read from the head of the file.

    GDAL silently falls back to WGS 84 when that member names a CRS it does not know, which
    would import metres as degrees; reading the member ourselves lets an unknown code fail
    with a clear message instead.
    """
    if path.suffix.lower() not in (".geojson", ".json"):
        return None
    try:
        with path.open("rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    match = _GEOJSON_CRS.search(head)
    return match[1].decode(errors="replace") if match else None


def _known_crs(name: str) -> bool:
    try:
        CRS.from_user_input(name)
    except ProjCRSError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
