"""A small, fast glTF 2.0 binary (GLB) writer built on numpy arrays.

Why our own: tiles are written by the hundred thousand, and a general object model
(pygltflib) costs more per tile than the meshing itself. This writer keeps one growing binary
buffer and the JSON document as plain dicts, and knows the rules viewers and the Khronos
validator enforce:

- every buffer view starts on an 8-byte boundary (EXT_structural_metadata requires it for
  property tables; it costs at most 7 bytes per view);
- vertex attributes use ``byteStride`` multiples of 4, so 1- and 2-byte attributes (feature
  ids) are padded to 4 bytes per vertex;
- POSITION accessors carry ``min``/``max``; indices are UNSIGNED_SHORT when they fit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from geodata.errors import TileBuildError
from tiles.frames import Z_UP_TO_Y_UP

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
TRIANGLES = 4

#: glTF componentType codes by numpy dtype
COMPONENT_TYPES: dict[np.dtype[Any], int] = {
    np.dtype(np.int8): 5120,
    np.dtype(np.uint8): 5121,
    np.dtype(np.int16): 5122,
    np.dtype(np.uint16): 5123,
    np.dtype(np.uint32): 5125,
    np.dtype(np.float32): 5126,
}
ACCESSOR_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}

GLB_MAGIC = 0x46546C67
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942


def _pad(n: int, align: int) -> int:
    return (-n) % align


@dataclass
class GltfBuilder:
    """Accumulates buffer views, accessors, meshes and nodes; ``glb()`` returns the file."""

    generator: str = "urban-twin tiles"
    doc: dict[str, Any] = field(default_factory=dict)
    _parts: list[bytes | memoryview] = field(default_factory=list)
    _size: int = 0

    def __post_init__(self) -> None:
        self.doc = {
            "asset": {"version": "2.0", "generator": self.generator},
            "scene": 0,
            "scenes": [{"nodes": []}],
            "nodes": [],
            "meshes": [],
            "materials": [],
            "accessors": [],
            "bufferViews": [],
            "buffers": [{"byteLength": 0}],
        }
        self._extensions_used: set[str] = set()
        self._extensions_required: set[str] = set()

    # -- binary ---------------------------------------------------------------------------
    def view(
        self, data: bytes | NDArray[Any], *, target: int | None = None, stride: int | None = None
    ) -> int:
        """Append bytes as a new buffer view aligned on 8 bytes; returns its index."""
        # an array is kept as it is (joined into the file by its buffer, one copy less)
        raw: bytes | memoryview = (
            np.ascontiguousarray(data).reshape(-1).view(np.uint8).data
            if isinstance(data, np.ndarray)
            else bytes(data)
        )
        if not len(raw):  # glTF forbids empty buffer views (e.g. a column of empty strings)
            raw = b"\0"
        pad = _pad(self._size, 8)
        if pad:
            self._parts.append(b"\0" * pad)
            self._size += pad
        bv: dict[str, Any] = {"buffer": 0, "byteOffset": self._size, "byteLength": len(raw)}
        if target is not None:
            bv["target"] = target
        if stride is not None:
            bv["byteStride"] = stride
        self._parts.append(raw)
        self._size += len(raw)
        self.doc["bufferViews"].append(bv)
        return len(self.doc["bufferViews"]) - 1

    def accessor(
        self,
        array: NDArray[Any],
        *,
        target: int | None = None,
        normalized: bool = False,
        minmax: bool = False,
    ) -> int:
        """Write ``array`` ((n,) or (n, k)) as a buffer view plus an accessor over it.

        Vertex attributes narrower than 4 bytes per element are padded to a 4-byte stride,
        as the glTF specification requires of vertex attribute alignment.
        """
        arr = np.ascontiguousarray(array)
        count = arr.shape[0]
        width = 1 if arr.ndim == 1 else arr.shape[1]
        elem = arr.dtype.itemsize * width
        stride = None
        data: NDArray[Any] = arr
        if target == ARRAY_BUFFER and elem % 4:
            padded_width = (elem + _pad(elem, 4)) // arr.dtype.itemsize
            data = np.zeros((count, padded_width), dtype=arr.dtype)
            data[:, :width] = arr.reshape(count, width)
            stride = padded_width * arr.dtype.itemsize
        bv = self.view(data, target=target, stride=stride)
        acc: dict[str, Any] = {
            "bufferView": bv,
            "componentType": COMPONENT_TYPES[arr.dtype],
            "count": int(count),
            "type": ACCESSOR_TYPES[width],
        }
        if normalized:
            acc["normalized"] = True
        if minmax and count:
            flat = arr.reshape(count, width)
            # column by column: numpy's axis-0 reduction of narrow arrays is ~20x slower
            conv = int if arr.dtype.kind in "iu" else float
            acc["min"] = [conv(flat[:, i].min()) for i in range(width)]
            acc["max"] = [conv(flat[:, i].max()) for i in range(width)]
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def indices(self, idx: NDArray[Any], vertex_count: int) -> int:
        dtype = np.uint16 if vertex_count <= 65535 else np.uint32
        return self.accessor(idx.astype(dtype, copy=False).reshape(-1), target=ELEMENT_ARRAY_BUFFER)

    # -- document -------------------------------------------------------------------------
    def use_extension(self, name: str, *, required: bool = False) -> None:
        self._extensions_used.add(name)
        if required:
            self._extensions_required.add(name)

    def material(
        self,
        name: str,
        rgba: tuple[float, float, float, float],
        *,
        metallic: float = 0.0,
        roughness: float = 0.85,
        double_sided: bool = False,
    ) -> int:
        mat: dict[str, Any] = {
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorFactor": [float(c) for c in rgba],
                "metallicFactor": metallic,
                "roughnessFactor": roughness,
            },
        }
        if rgba[3] < 1.0:
            mat["alphaMode"] = "BLEND"
        if double_sided:
            mat["doubleSided"] = True
        self.doc["materials"].append(mat)
        return len(self.doc["materials"]) - 1

    def mesh(self, primitives: list[dict[str, Any]], name: str | None = None) -> int:
        m: dict[str, Any] = {"primitives": primitives}
        if name:
            m["name"] = name
        self.doc["meshes"].append(m)
        return len(self.doc["meshes"]) - 1

    def node(self, node: dict[str, Any], *, root: bool = False) -> int:
        self.doc["nodes"].append(node)
        i = len(self.doc["nodes"]) - 1
        if root:
            self.doc["scenes"][0]["nodes"].append(i)
        return i

    def z_up_root(self, children: list[int], name: str = "z-up") -> int:
        """The root node that turns our z-up vertices into glTF's y-up (see tiles.frames)."""
        return self.node({"name": name, "matrix": Z_UP_TO_Y_UP, "children": children}, root=True)

    def glb(self) -> bytes:
        doc = self.doc
        doc["buffers"][0]["byteLength"] = self._size
        for key in ("materials", "meshes", "accessors", "bufferViews"):
            if not doc[key]:
                del doc[key]
        if self._size == 0:
            del doc["buffers"]
        if self._extensions_used:
            doc["extensionsUsed"] = sorted(self._extensions_used)
        if self._extensions_required:
            doc["extensionsRequired"] = sorted(self._extensions_required)
        js = orjson.dumps(doc)
        js += b" " * _pad(len(js), 4)
        size = self._size + _pad(self._size, 4)
        total = 12 + 8 + len(js) + (8 + size if size else 0)
        out: list[bytes | memoryview] = [
            struct.pack("<III", GLB_MAGIC, 2, total),
            struct.pack("<II", len(js), CHUNK_JSON),
            js,
        ]
        if size:  # the binary chunk's parts joined once, with the rest of the file
            out += [struct.pack("<II", size, CHUNK_BIN), *self._parts]
            out.append(b"\0" * _pad(self._size, 4))
        return b"".join(out)


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a GLB into its JSON document and binary chunk (tests and tools read tiles
    back; incremental builds patch the previous build's files through :func:`read_glb_view`,
    which does not copy the binary chunk)."""
    doc, binary = read_glb_view(data)
    return doc, bytes(binary)


def read_glb_view(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """:func:`read_glb` with the binary chunk as a view of ``data``.

    A file that is not a whole GLB (truncated, overwritten) is a :class:`TileBuildError`
    saying what is wrong with it; the caller names the file and what to do."""
    if len(data) < 20:
        raise TileBuildError(f"not a glTF 2.0 binary file ({len(data)} bytes, too short)")
    magic, version, total = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2:
        raise TileBuildError("not a glTF 2.0 binary file (bad magic or version)")
    if total != len(data):
        raise TileBuildError(f"GLB header says {total} bytes, file has {len(data)}")
    jlen, jtype = struct.unpack_from("<II", data, 12)
    if jtype != CHUNK_JSON:
        raise TileBuildError("GLB first chunk is not JSON")
    try:
        doc = orjson.loads(data[20 : 20 + jlen])
    except orjson.JSONDecodeError as exc:
        raise TileBuildError(f"GLB JSON chunk does not parse ({exc})") from None
    off = 20 + jlen
    binary = memoryview(b"")
    if off < len(data):
        if off + 8 > len(data):
            raise TileBuildError("GLB binary chunk header is cut short")
        blen, btype = struct.unpack_from("<II", data, off)
        if btype != CHUNK_BIN:
            raise TileBuildError("GLB second chunk is not BIN")
        binary = memoryview(data)[off + 8 : off + 8 + blen]  # no copy: arrays view it
    return doc, binary


_NP_BY_CODE = {v: k for k, v in COMPONENT_TYPES.items()}
_WIDTH = {v: k for k, v in ACCESSOR_TYPES.items()}


def read_accessor(doc: dict[str, Any], binary: bytes | memoryview, index: int) -> NDArray[Any]:
    """An accessor's data as an (n,) or (n, k) array, honouring byteStride."""
    acc = doc["accessors"][index]
    bv = doc["bufferViews"][acc["bufferView"]]
    dtype = _NP_BY_CODE[acc["componentType"]]
    width = _WIDTH[acc["type"]]
    count = acc["count"]
    start = bv.get("byteOffset", 0) + acc.get("byteOffset", 0)
    elem = dtype.itemsize * width
    stride = bv.get("byteStride", elem)
    if count == 0:
        empty = np.zeros((0, width), dtype=dtype)
        return empty[:, 0] if width == 1 else empty
    per = stride // dtype.itemsize
    if stride % dtype.itemsize == 0 and start + stride * count <= len(binary):
        # this writer's layout (padding after the last element too): a plain view, one copy;
        # numpy's as_strided costs a hundred microseconds a call, a patch reads four
        flat = np.frombuffer(binary, dtype=dtype, count=per * count, offset=start)
        arr = flat.reshape(count, per)[:, :width].copy()
    else:
        raw = np.frombuffer(binary, np.uint8, count=stride * (count - 1) + elem, offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, shape=(count, elem), strides=(stride, 1))
        arr = np.ascontiguousarray(rows).view(dtype).reshape(count, width)
    return arr[:, 0] if width == 1 else arr
