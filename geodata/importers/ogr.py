"""GeoJSON, GeoPackage, Shapefile (plain or zipped) and FlatGeobuf, through GDAL (pyogrio).

Features are streamed as Arrow record batches (``pyogrio.raw.open_arrow``): memory stays flat
whatever the file size, and the WKB geometries go on to validation without a Python loop.
GDAL also reads the legacy GeoJSON ``crs`` member and the Shapefile ``.prj``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from geodata.crs import parse_crs
from geodata.errors import CRSError, ImportFailed
from geodata.importers.base import Reader, SourceBatch


class OgrReader(Reader):
    name = "ogr"
    suffixes = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb")

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__(path, layer)
        self._crs: int | None = None
        self._count: int | None = None
        self._ogr_layer: str | None = None

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
        crs = info.get("crs")
        if crs:
            try:
                self._crs = parse_crs(crs)
            except CRSError:
                raise ImportFailed(
                    f"{self.path}: the file's CRS has no EPSG code ({crs[:80]}...): "
                    "give --crs EPSG:XXXX"
                ) from None

    def source_crs(self) -> int | None:
        return self._crs

    def count(self) -> int | None:
        return self._count

    def batches(self, size: int) -> Iterator[SourceBatch]:
        try:
            with pyogrio.raw.open_arrow(
                self.path, layer=self._ogr_layer, batch_size=size, use_pyarrow=True,
                return_fids=True,
            ) as (meta, stream):
                geom_col = meta["geometry_name"] or "wkb_geometry"
                fid_col = meta.get("fid_column") or "OGC_FID"
                for batch in stream:
                    if batch.num_rows == 0:
                        continue
                    fids = batch.column(fid_col).to_numpy(zero_copy_only=False)
                    wkb = np.asarray(
                        batch.column(geom_col).to_pylist(), dtype=object
                    )
                    props = batch.drop_columns([geom_col, fid_col]).to_pandas()
                    yield SourceBatch(
                        geoms=wkb,
                        props=props,
                        ids=np.array([str(f) for f in fids], dtype=object),
                        where=np.array([f"feature {f}" for f in fids], dtype=object),
                    )
        except (DataSourceError, DataLayerError) as exc:
            raise ImportFailed(
                f"{self.path}: reading stopped ({_first_line(exc)}); is the file truncated?"
            ) from None
        except OSError as exc:  # pyarrow surfaces GDAL read errors as OSError
            raise ImportFailed(
                f"{self.path}: reading stopped ({_first_line(exc)}); is the file truncated?"
            ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
