"""The CityGML reader streams: its peak memory is the same for a 1 MB and a 200 MB file.

Each file is generated into the test's temp folder (synthetic LoD2 houses); a child process
runs the reader over it and reports its own peak RSS (``resource.getrusage``). Nothing is
timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.citygml_data import CityGMLWriter
from tests.import_data import DELFT_RD

ROOT = Path(__file__).resolve().parent.parent
X, Y = DELFT_RD
_CHILD = """
import json, resource, sys
from pathlib import Path
from geodata.importers.citygml import CityGMLReader
reader = CityGMLReader(Path(sys.argv[1]), "buildings")
reader.open()
n = faces = 0
for batch in reader.batches(500):
    n += len(batch)
    faces += sum(1 for g in batch.lod2 if g is not None) if batch.lod2 is not None else 0
print(json.dumps({"buildings": n, "lod2": faces,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_city(path: Path, megabytes: float, version: str) -> int:
    """LoD2 houses on a grid until the file is ``megabytes`` large; their number."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        w = CityGMLWriter(f, version, "EPSG:28992")
        w.start((X, Y, 0, X + 1, Y + 1, 1))
        limit = megabytes * 1e6
        while f.tell() < limit:
            w.building(
                f"b{n}",
                X + 15 * (n % 500),
                Y + 12 * (n // 500),
                attrs={"measuredHeight": 9.0, "storeysAboveGround": 2},
                generic={"district": "Centrum"},
                terrain=n % 7 == 0,
            )
            n += 1
        w.end()
    return n


def peak(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_citygml_memory_is_flat_from_1_to_200_mb(tmp_path: Path) -> None:
    small, big = tmp_path / "small.gml", tmp_path / "big.gml"
    n_small = write_city(small, 1, "3.0")
    n_big = write_city(big, 200, "3.0")
    assert big.stat().st_size > 190 * small.stat().st_size
    try:
        a, b = peak(small), peak(big)
    finally:
        big.unlink()
    assert (a["buildings"], a["lod2"]) == (n_small, n_small)
    assert (b["buildings"], b["lod2"]) == (n_big, n_big)
    # 200 times the data, a few MB more at most (allocator noise); a reader holding the
    # document would need well over a gigabyte
    assert b["peak_mb"] < a["peak_mb"] + 40, (a, b)
