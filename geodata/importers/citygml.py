"""CityGML 1.0, 2.0 and 3.0 buildings (``.gml``, ``.gml.gz``, ``.zip``), streamed.

The file is read with lxml's incremental parser (``etree.iterparse``): an event comes at the
end of each ``bldg:Building`` and of each ``cityObjectMember``; the building is turned into
city objects (:mod:`geodata.importers.citygml_building`), then the element and every element
before it are freed, so memory stays flat whatever the file's size. Buildings are built in
batches by the CityJSON reader's collector (:mod:`geodata.importers.cityjson_geometry`): the
footprint, base, LoD height and LoD2 rules are the same for both formats.

- One row per ``bldg:Building``: its ``BuildingPart`` s (parts of parts too) are merged into it,
  as CityJSON's are; its ``gml:id`` is the source id.
- CRS: the first ``srsName`` of the file (the model's envelope, else the first building's),
  in any spelling :func:`geodata.crs.horizontal_epsg` reads; a geometry naming another CRS
  stops the import. No ``srsName`` and no ``--crs``: the import stops, asking for ``--crs``.
- ``.zip``: every ``.gml`` (or ``.gml.gz``) member, in name order, is one import (one source,
  one CRS): a city's model shipped as tiles in one archive is imported whole.
- Bad XML (a truncated file too) stops the import with lxml's message and line; the
  pipeline's transaction then writes nothing.

lxml is imported by the functions that parse, not with these modules: the reader registry
imports every reader to read its ``suffixes``, and the import of another format should not
pay for lxml (~10 ms and 5 MB of every ``twin import``).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from shapely.errors import GEOSException

from geodata.crs import horizontal_epsg
from geodata.errors import CRSError, ImportFailed
from geodata.importers.base import Reader, SourceBatch
from geodata.importers.citygml_attrs import local
from geodata.importers.citygml_building import APPEARANCE, BuildingReader, gml_id
from geodata.importers.cityjson_geometry import Collector, Context

if TYPE_CHECKING:
    from lxml import etree

#: CityGML versions by core namespace
CORE_NS = {
    "http://www.opengis.net/citygml/1.0": "1.0",
    "http://www.opengis.net/citygml/2.0": "2.0",
    "http://www.opengis.net/citygml/3.0": "3.0",
}
BUILDING_NS = (
    "http://www.opengis.net/citygml/building/1.0",
    "http://www.opengis.net/citygml/building/2.0",
    "http://www.opengis.net/citygml/building/3.0",
)
_APP_NS = (
    "http://www.opengis.net/citygml/appearance/1.0",
    "http://www.opengis.net/citygml/appearance/2.0",
)
_GML_NS = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
_BUILDING = tuple(f"{{{ns}}}Building" for ns in BUILDING_NS)
#: the elements whose end frees what came before: members of the city model
_MEMBERS = (
    *(f"{{{ns}}}cityObjectMember" for ns in CORE_NS),
    *(f"{{{ns}}}appearanceMember" for ns in (*CORE_NS, *_APP_NS)),
    *(f"{{{ns}}}featureMember" for ns in _GML_NS),
)
#: envelopes name a CRS too: one in a later member of a zip must agree with the first
_ENVELOPES = tuple(f"{{{ns}}}Envelope" for ns in _GML_NS)
_SUFFIXES = (".gml", ".gml.gz", ".citygml")
#: how many parse events the CRS scan of ``open`` reads at most before the first building
_SCAN_EVENTS = 200_000
_NO_CRS = (
    "no srsName in the file: CityGML does not require one and many files leave it out; give the "
    "coordinate reference system with --crs EPSG:XXXX (e.g. --crs EPSG:2154 for Lambert-93, "
    "--crs EPSG:25832 for ETRS89 / UTM 32N); nothing was written"
)


class CityGMLReader(Reader):
    """Buildings of a CityGML file: see the module docstring for what is kept."""

    name = "citygml"
    suffixes = (*_SUFFIXES, ".zip")
    scheme = "cityjson"  # the same attribute names: measuredHeight, storeysAboveGround, ...

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """A ``.zip`` is CityGML when it holds ``.gml`` files and no shapefile."""
        name = path.name.lower()
        if not name.endswith(".zip"):
            return super().sniff(path, head)
        try:
            with zipfile.ZipFile(path) as z:
                names = [n.lower() for n in z.namelist()]
        except (OSError, zipfile.BadZipFile):
            return False
        return any(n.endswith(_SUFFIXES) for n in names) and not any(
            n.endswith(".shp") for n in names
        )

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__(path, layer)
        self._members: list[str | None] = []
        self._srs: str | None = None
        self._crs: int | None = None
        self._crs_problem: str | None = None
        self.version: str | None = None
        self._gml = _GML_NS[0]

    # -- metadata -------------------------------------------------------------------------
    def open(self) -> None:
        if self.layer != "buildings":
            raise ImportFailed(
                f"{self.path}: CityGML files import into --layer buildings only (not "
                f"{self.layer}); export other city objects to GeoJSON or GeoPackage"
            )
        self._members = self._list_members()
        with self._stream(self._members[0]) as (stream, where):
            self._scan(stream, where)
        if self._srs is not None:
            try:
                self._crs = _epsg(self._srs)
            except CRSError as exc:
                self._crs_problem = f"{self.path}: srsName {self._srs!r}: {exc}"

    def source_crs(self) -> int | None:
        """The horizontal part of the file's ``srsName``; raised only here, so that ``--crs``
        (which skips this call) can stand in for a missing or unknown one."""
        if self._crs_problem:
            raise ImportFailed(self._crs_problem)
        if self._crs is None:
            raise ImportFailed(f"{self.path}: {_NO_CRS}")
        return self._crs

    def count(self) -> int | None:
        return None  # unknown without reading the whole file twice

    def _list_members(self) -> list[str | None]:
        if not self.path.name.lower().endswith(".zip"):
            return [None]
        try:
            with zipfile.ZipFile(self.path) as z:
                names = sorted(n for n in z.namelist() if n.lower().endswith(_SUFFIXES))
        except (OSError, zipfile.BadZipFile) as exc:
            raise ImportFailed(f"{self.path}: not a readable zip archive ({exc})") from None
        if not names:
            raise ImportFailed(f"{self.path}: the archive holds no .gml file")
        return list(names)

    @contextmanager
    def _stream(self, member: str | None) -> Iterator[tuple[IO[bytes], str]]:
        """The bytes of the file (or of one zip member), uncompressed, and how to name it."""
        where = f"{self.path}" if member is None else f"{self.path}:{member}"
        try:
            if member is None:
                raw: IO[bytes] = self.path.open("rb")
                if self.path.name.lower().endswith(".gz"):
                    raw = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
                with raw:
                    yield raw, where
                return
            with zipfile.ZipFile(self.path) as z, z.open(member) as inner:
                if member.lower().endswith(".gz"):
                    with gzip.GzipFile(fileobj=inner) as unzipped:
                        yield unzipped, where  # type: ignore[misc]
                else:
                    yield inner, where
        except FileNotFoundError:
            raise ImportFailed(f"{where}: no such file") from None
        except PermissionError as exc:
            raise ImportFailed(f"{where}: cannot read the file ({exc.strerror})") from None

    def _scan(self, stream: IO[bytes], where: str) -> None:
        """Check the root is a CityModel; find the first srsName (before or in the first
        building)."""
        from lxml import etree

        with _xml_errors(where):
            events = etree.iterparse(
                stream, events=("start", "end"), huge_tree=True, resolve_entities=False
            )
            for k, (event, el) in enumerate(events):
                if k == 0:
                    ns = el.tag[1 : el.tag.index("}")] if el.tag.startswith("{") else ""
                    if local(el.tag) != "CityModel" or ns not in CORE_NS:
                        raise ImportFailed(
                            f"{where}: not a CityGML file: the root element is "
                            f"{el.tag!r}, not a CityGML 1.0, 2.0 or 3.0 core:CityModel"
                        )
                    self.version = CORE_NS[ns]
                    self._gml = _GML_NS[1] if self.version == "3.0" else _GML_NS[0]
                if event == "start":
                    srs = el.get("srsName")
                    if srs:
                        self._srs = srs.strip()
                        return
                elif el.tag in _BUILDING or k > _SCAN_EVENTS:
                    return

    # -- features -------------------------------------------------------------------------
    def batches(self, size: int) -> Iterator[SourceBatch]:
        ctx = Context(np.ones(3), np.zeros(3), [], np.zeros((0, 3)))
        out = Collector(ctx, str(self.path))
        others: Counter[str] = Counter()  # what the members held besides buildings
        for member in self._members:
            with self._stream(member) as (stream, where):
                prefix = "" if member is None else f"{member}, "
                check = partial(self._check_srs, prefix=prefix)
                reader = BuildingReader(where, check, self._gml)
                for el, line in self._buildings(stream, where, member, others):
                    with _malformed(where, line):
                        reader.read(el, line, out)
                    if len(out) >= size:
                        out.notes.update(others)
                        others.clear()
                        with _malformed(where, "a batch of buildings"):
                            batch = out.build()
                        yield batch
                        out = Collector(ctx, str(self.path))
        out.notes.update(others)
        if len(out) or out.notes:
            with _malformed(str(self.path), "a batch of buildings"):
                batch = out.build()
            yield batch

    def _buildings(
        self, stream: IO[bytes], where: str, member: str | None, notes: Counter[str]
    ) -> Iterator[tuple[etree._Element, str]]:
        """Each Building element and how to name it, freed once the caller has read it; the
        kinds of other city objects counted in ``notes``."""
        prefix = "" if member is None else f"{member}, "
        tags = (*_BUILDING, *_MEMBERS, *_ENVELOPES)
        from lxml import etree

        with _xml_errors(where):
            for _, el in etree.iterparse(
                stream, events=("end",), tag=tags, huge_tree=True, resolve_entities=False
            ):
                if el.tag in _BUILDING:
                    yield el, f"{prefix}line {el.sourceline} (Building {gml_id(el)!r})"
                    el.clear()
                    continue
                if el.tag in _ENVELOPES:
                    srs = el.get("srsName")
                    if srs:
                        self._check_srs(srs, el.sourceline, prefix)
                    continue
                if local(el.tag) == "appearanceMember":
                    notes[APPEARANCE] += 1
                else:
                    for child in el:
                        kind = local(child.tag)
                        if kind and kind != "Building":
                            notes[f"not a building: {kind}"] += 1
                _free(el)

    def _check_srs(self, srs: str, line: int | None, prefix: str = "") -> None:
        """A geometry (or envelope) naming a CRS other than the file's stops the import;
        ``prefix`` names the zip member."""
        srs = srs.strip()
        if srs == self._srs:
            return
        try:
            same = self._srs is not None and _epsg(srs) == _epsg(self._srs)
        except CRSError:
            same = False
        if self._srs is None:
            self._srs = srs
            return
        if not same:
            raise ImportFailed(
                f"{self.path}, {prefix}line {line}: srsName {srs!r} differs from the file's "
                f"{self._srs!r}: one import holds one CRS; split the file by CRS and import "
                "each part with its own --crs"
            )


def _free(el: etree._Element) -> None:
    """Free ``el`` and everything parsed before it (its preceding siblings)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


@lru_cache(maxsize=64)
def _epsg(srs: str) -> int:
    return horizontal_epsg(srs)


@contextmanager
def _xml_errors(where: str) -> Iterator[None]:
    """Bad XML (or a broken compressed stream) as an ImportFailed naming the line."""
    from lxml import etree

    try:
        yield
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        msg = str(exc.msg if hasattr(exc, "msg") else exc).strip()
        raise ImportFailed(
            f"{where}, line {line}: not well-formed XML ({msg}); is the file truncated? "
            "Export it again"
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        raise ImportFailed(
            f"{where}: the compressed file is damaged or truncated ({exc}); export it again"
        ) from None


@contextmanager
def _malformed(where: str, what: str) -> Iterator[None]:
    try:
        yield
    except (TypeError, ValueError, KeyError, IndexError, GEOSException) as exc:
        raise ImportFailed(
            f"{where}, {what}: malformed CityGML geometry ({type(exc).__name__}: "
            f"{str(exc)[:80]}): check the file (e.g. with citygml-tools validate)"
        ) from None
