"""CityJSON 1.0, 1.1 and 2.0 files and CityJSONSeq (``.jsonl``) streams: buildings with their LoDs.

Each ``Building`` (with its ``BuildingPart`` s merged in) becomes one feature:

- footprint: the 2D union of the ground surfaces of each object's lowest-LoD geometry (the
  ``GroundSurface`` semantic surfaces; for a solid without semantics its bottom faces; for LoD0
  the surfaces themselves; as a last resort the 2D projection of every face), with z = base;
- base z: the lowest vertex of the best (highest-LoD) geometry, so base + height is the roof;
- ``lod2``: every surface of the highest LoD >= 2 geometry as a MultiPolygon Z, kept so tiles
  can show the real roofs rather than an extruded footprint;
- attributes as they are (the mapping knows ``measuredHeight``, ``storeysAboveGround``,
  ``roofType``, ``function``, ``yearOfConstruction``), plus the LoD height (max z - min z) under
  :data:`geodata.importers.base.LOD_HEIGHT` for the height fallback.

Memory: a CityJSONSeq file is read line by line, one feature at a time, so memory stays flat
whatever its size. A plain CityJSON file is one JSON document whose vertices are shared by all
objects, so it cannot be streamed without a full incremental parser: it is loaded whole (parsed
with orjson, vertices kept as one numpy array). Convert very large files to CityJSONSeq first
(``cjio big.city.json export jsonl big.city.jsonl``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from shapely.errors import GEOSException

from geodata.crs import horizontal_epsg
from geodata.errors import CRSError, ImportFailed
from geodata.importers.base import Reader, SourceBatch
from geodata.importers.cityjson_geometry import (
    Collector,
    Context,
    building_parts,
    building_roots,
)

#: CityJSON versions whose geometry model this reader understands (major.minor)
VERSIONS = ("1.0", "1.1", "2.0")
_SEQ_SUFFIXES = (".jsonl", ".city.jsonl", ".cityjsonseq")
_UPGRADE = "upgrade it with cjio (`cjio in.city.json upgrade save out.city.json`)"


class CityJSONReader(Reader):
    """Buildings from CityJSON (``.city.json``, or ``.json`` with ``"type": "CityJSON"``) and
    CityJSONSeq (``.city.jsonl``, ``.jsonl``): see the module docstring for what is kept."""

    name = "cityjson"
    suffixes = (".city.json", ".json", *_SEQ_SUFFIXES)
    scheme = "cityjson"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """A ``.json`` file is CityJSON only when it says so; the other endings always are."""
        name = path.name.lower()
        if name.endswith(".json") and not name.endswith(".city.json"):
            return b'"CityJSON"' in head
        return super().sniff(path, head)

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__(path, layer)
        self._seq = path.name.lower().endswith(_SEQ_SUFFIXES)
        self._doc: dict[str, Any] | None = None
        self._ctx: Context | None = None
        self._crs: int | None = None
        self._crs_problem: str | None = None
        self._count: int | None = None

    # -- metadata -------------------------------------------------------------------------
    def open(self) -> None:
        if self.layer != "buildings":
            raise ImportFailed(
                f"{self.path}: CityJSON files import into --layer buildings only "
                f"(not {self.layer}); export other city objects to GeoJSON or GeoPackage"
            )
        with _malformed(str(self.path), "header"):
            if self._seq:
                header, self._count = self._read_header()
            else:
                header = self._load_document()
                self._count = sum(1 for _ in building_roots(header["CityObjects"]))
            self._check_version(header, "line 1" if self._seq else None)
            self._ctx = self._context(header)
            ref = (header.get("metadata") or {}).get("referenceSystem")
            if ref:
                self._crs, self._crs_problem = _epsg_of(ref, self.path)

    def source_crs(self) -> int | None:
        """The horizontal part of ``metadata.referenceSystem``; a problem with it is raised
        only here, so that ``--crs`` (which skips this call) can override a bad one."""
        if self._crs_problem:
            raise ImportFailed(self._crs_problem)
        return self._crs

    def count(self) -> int | None:
        return self._count

    def _load_document(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ImportFailed(f"{self.path}: cannot read the file ({exc.strerror})") from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(
                f"{self.path}: not valid JSON ({exc}); is the file truncated? Export it again"
            ) from None
        del raw
        if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
            raise ImportFailed(
                f'{self.path}: not a CityJSON file (no "type": "CityJSON" at the top); '
                "GeoJSON goes through the same command with a .geojson name"
            )
        if not isinstance(doc.get("vertices"), list):
            raise ImportFailed(
                f'{self.path}: no "vertices" array: the CityJSON file is incomplete; export it '
                "again"
            )
        if not isinstance(doc.get("CityObjects"), dict):
            raise ImportFailed(f'{self.path}: no "CityObjects": the CityJSON file is incomplete')
        self._doc = doc
        return doc

    def _read_header(self) -> tuple[dict[str, Any], int]:
        """First line of a CityJSONSeq: the CityJSON header; also count the feature lines."""
        try:
            with self.path.open("rb") as f:
                first = f.readline()
                features = sum(1 for line in f if line.strip())
        except OSError as exc:
            raise ImportFailed(f"{self.path}: cannot read the file ({exc.strerror})") from None
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(
                f"{self.path}, line 1: not valid JSON ({exc}); a CityJSONSeq file starts with "
                "a CityJSON header line"
            ) from None
        if not isinstance(header, dict) or header.get("type") != "CityJSON":
            raise ImportFailed(
                f'{self.path}, line 1: expected the CityJSON header ("type": "CityJSON" with '
                "transform and metadata), found "
                f"{header.get('type') if isinstance(header, dict) else type(header).__name__!r}"
            )
        return header, features

    def _check_version(self, header: dict[str, Any], line: str | None) -> None:
        where = f"{self.path}, {line}" if line else str(self.path)
        version = str(header.get("version", ""))
        match = re.match(r"^(\d+)\.(\d+)", version)
        if not match or f"{match[1]}.{match[2]}" not in VERSIONS:
            raise ImportFailed(
                f"{where}: CityJSON version {version or '(none)'!r} is not supported "
                f"(supported: {', '.join(VERSIONS)}); {_UPGRADE}"
            )

    def _context(self, header: dict[str, Any]) -> Context:
        scale, translate = _transform(header, str(self.path))
        tpl = header.get("geometry-templates") or {}
        tverts = _vertex_array(tpl.get("vertices-templates") or [], str(self.path), "templates")
        return Context(scale, translate, list(tpl.get("templates") or []), tverts)

    # -- features -------------------------------------------------------------------------
    def batches(self, size: int) -> Iterator[SourceBatch]:
        assert self._ctx is not None
        out = Collector(self._ctx, str(self.path))
        file = str(self.path)
        for objects, verts, where_of in self._features():
            with _malformed(file, "city objects"):
                _check_objects(objects, where_of, file)
                roots = list(building_roots(objects))
                merged = {part for oid in roots for part in building_parts(objects, oid)}
            for oid, obj in objects.items():
                with _malformed(file, where_of(oid)):
                    if oid in merged:
                        if oid in roots:
                            out.add_building(objects, oid, verts, where_of(oid))
                    else:
                        out.notes[f"not a building: {obj.get('type', 'untyped object')}"] += 1
                if len(out) >= size:
                    with _malformed(file, "a batch of buildings"):
                        batch = out.build()
                    yield batch
                    out = Collector(self._ctx, file)
        if len(out) or out.notes:
            with _malformed(file, "a batch of buildings"):
                batch = out.build()
            yield batch

    def _features(self) -> Iterator[tuple[dict[str, Any], NDArray[Any], Callable[[str], str]]]:
        """(city objects, their real-world vertices, how to name an object) per feature: the
        whole document for CityJSON, one line at a time for CityJSONSeq."""
        assert self._ctx is not None
        ctx = self._ctx
        if not self._seq:
            assert self._doc is not None
            verts = _vertex_array(self._doc.pop("vertices"), str(self.path), "vertices")
            yield (
                self._doc["CityObjects"],
                _real(verts, ctx, str(self.path)),
                lambda oid: f"CityObject {oid!r}",
            )
            self._doc = None
            return
        with self.path.open("rb") as f:
            f.readline()
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    feature = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ImportFailed(
                        f"{self.path}, line {lineno}: not valid JSON ({exc}); is the file "
                        "truncated? Export it again"
                    ) from None
                if not isinstance(feature, dict) or feature.get("type") != "CityJSONFeature":
                    raise ImportFailed(
                        f'{self.path}, line {lineno}: expected a "CityJSONFeature" object'
                    )
                objects = feature.get("CityObjects")
                if not isinstance(objects, dict) or not isinstance(feature.get("vertices"), list):
                    raise ImportFailed(
                        f'{self.path}, line {lineno}: the feature has no "CityObjects" or no '
                        '"vertices": the file is incomplete; export it again'
                    )
                verts = _vertex_array(
                    feature["vertices"], f"{self.path}, line {lineno}", "vertices"
                )
                yield (
                    objects,
                    _real(verts, ctx, f"{self.path}, line {lineno}"),
                    partial(_line_of, lineno),
                )

    def close(self) -> None:
        self._doc = None


def _vertex_array(values: Iterable[Any], file: str, what: str) -> NDArray[Any]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ImportFailed(
            f"{file}: the {what} are not all [x, y, z] numbers: the file is corrupt; export it "
            "again"
        ) from None
    if arr.size == 0:
        return np.zeros((0, 3))
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ImportFailed(f"{file}: the {what} are not all [x, y, z] triples")
    return arr


#: what Python raises on a document whose structure is not CityJSON's (a list for an object,
#: text for an index...): turned into one clear error by :func:`_malformed`
_STRUCTURE_ERRORS = (
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
    RecursionError,
    GEOSException,
)


@contextmanager
def _malformed(file: str, where: str) -> Iterator[None]:
    """The boundary between untrusted JSON and the reader: a structure error inside becomes
    an :class:`ImportFailed` naming the file and the object."""
    try:
        yield
    except _STRUCTURE_ERRORS as exc:
        raise ImportFailed(
            f"{file}, {where}: malformed CityJSON ({type(exc).__name__}: {_short(str(exc))}): "
            "check the file against the specification (cjio in.city.json validate)"
        ) from None


def _check_objects(objects: dict[str, Any], where_of: Callable[[str], str], file: str) -> None:
    """Every city object is an object with a string type; parents and children are lists of
    ids (the building tree is walked before any object is read)."""
    for oid, obj in objects.items():
        if not isinstance(obj, dict):
            raise ImportFailed(f"{file}, {where_of(oid)}: a city object must be a JSON object")
        for key in ("parents", "children"):
            ids = obj.get(key)
            if ids is not None and not (
                isinstance(ids, list) and all(isinstance(i, str) for i in ids)
            ):
                raise ImportFailed(
                    f"{file}, {where_of(oid)}: {key} must be a list of city object ids"
                )


def _transform(header: dict[str, Any], file: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """``transform.scale`` and ``transform.translate`` of a CityJSON header.

    CityJSON 1.0 made ``transform`` optional (vertices are then real coordinates); from 1.1
    on it is mandatory (vertices are integers). A scale must be three positive finite numbers
    and a translate three finite ones; an absurd but finite scale is caught later, where
    every coordinate is checked against the CRS's area of use.
    """
    version = str(header.get("version", ""))
    if "transform" not in header:
        if version.startswith("1.0"):
            return np.ones(3), np.zeros(3)
        raise ImportFailed(
            f'{file}: no "transform": CityJSON {version} requires one (vertices are integers '
            "scaled by transform.scale and moved by transform.translate); add it, or export "
            "the file again"
        )
    transform = header["transform"]
    if not isinstance(transform, dict):
        raise ImportFailed(
            f'{file}: "transform" must be an object {{"scale": [sx, sy, sz], "translate": '
            f"[tx, ty, tz]}}, not {type(transform).__name__} {_short(transform)}"
        )
    out = []
    for key in ("scale", "translate"):
        value = transform.get(key)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            arr = np.zeros(0)
        ok = arr.shape == (3,) and bool(np.isfinite(arr).all())
        if ok and key == "scale":
            ok = bool((arr > 0).all())
        if not ok:
            what = "3 positive numbers" if key == "scale" else "3 finite numbers"
            raise ImportFailed(
                f"{file}: transform.{key} must be {what}, found {_short(value)}: fix the "
                "file's transform or export it again"
            )
        out.append(arr)
    return out[0], out[1]


def _real(verts: NDArray[Any], ctx: Context, where: str) -> NDArray[Any]:
    """Real-world vertices (``vertex * scale + translate``); a product beyond floating point
    range means a corrupt transform (the coordinate rule of the layer checks the rest)."""
    with np.errstate(over="ignore", invalid="ignore"):
        real = verts * ctx.scale + ctx.translate
    bad = ~np.isfinite(real).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImportFailed(
            f"{where}: vertex {i} {verts[i].tolist()} times transform.scale "
            f"{ctx.scale.tolist()} is not a finite coordinate: the transform or the vertices "
            "are corrupt; export the file again"
        )
    return np.asarray(real)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _epsg_of(ref: str, path: Path) -> tuple[int | None, str | None]:
    """EPSG code of the horizontal part of a CityJSON ``referenceSystem``, or the problem
    (the spellings are :func:`geodata.crs.horizontal_epsg`'s, shared with CityGML)."""
    try:
        return horizontal_epsg(str(ref)), None
    except CRSError as exc:
        return None, f"{path}: metadata.referenceSystem {ref!r}: {exc}"


def _line_of(lineno: int, oid: str) -> str:
    return f"line {lineno} (CityObject {oid!r})"
