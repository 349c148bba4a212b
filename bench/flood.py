"""Benchmark: the flood fill on a 4,000 x 4,000 DEM against scipy.ndimage labelling.

The peer is ``scipy.ndimage.label`` of the cells below the level (the mask precomputed, so
the peer does strictly less); the project's fill (twin.analysis.flood.fill.connected_flood)
compares the DEM with the level, labels, and keeps the source's component. Both run on the
same synthetic terrain in one run, 8- and 4-connected; each figure is the best of
``--repeat`` runs taken turn about, and the verdict is on the median of the paired ratios
(each pair back to back: a shared machine's load swings single timings by half). Target:
fill / label at most 1.5. The depth raster is timed too, for information (no peer).

    .venv/bin/python bench/flood.py [--size 4000] [--repeat 11]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.analysis.flood import fill  # noqa: E402

console = Console()


def terrain(size: int, seed: int = 13) -> NDArray[np.float64]:
    """Synthetic: a valley sloping to the sea along one edge, with smoothed random hills."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    hills = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=size / 80)
    hills *= 8.0 / hills.std()
    i, j = np.indices((size, size), dtype=np.float64)
    valley = 20.0 * np.abs(j / size - 0.5) + 10.0 * i / size
    return np.asarray(valley + hills)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def interleaved(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[float, float, float]:
    """Best times of ``a`` and ``b`` run turn about, and the median of their paired ratios
    (each pair ran back to back, so a busy machine slows both alike)."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(best(a, 1))
        tb.append(best(b, 1))
    return min(ta), min(tb), float(np.median(np.array(ta) / np.array(tb)))


def main() -> None:
    from scipy import ndimage

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=11)
    args = ap.parse_args()
    z = terrain(args.size)
    level = float(np.percentile(z, 40))
    source = np.unravel_index(np.argmin(z), z.shape)
    src = (int(source[0]), int(source[1]))
    mask = z <= level
    table = Table(title=f"flood fill on {args.size} x {args.size} cells (level {level:.2f} m)")
    cols = (
        "connectivity",
        "flooded cells",
        "fill (s)",
        "scipy label (s)",
        "ratio of bests",
        "median paired ratio",
    )
    for col in cols:
        table.add_column(col, justify="right")
    worst = 0.0
    for conn in (8, 4):
        structure = np.ones((3, 3), bool) if conn == 8 else None
        wet = fill.connected_flood(z, level, src, conn)
        ours, peer, paired = interleaved(
            lambda c=conn: fill.connected_flood(z, level, src, c),  # type: ignore[misc]
            lambda s=structure: ndimage.label(mask, structure=s),  # type: ignore[misc]
            args.repeat,
        )
        worst = max(worst, paired)
        table.add_row(
            str(conn),
            f"{int(wet.sum()):,}",
            f"{ours:.3f}",
            f"{peer:.3f}",
            f"{ours / peer:.2f}x",
            f"{paired:.2f}x",
        )
    console.print(table)
    wet = fill.connected_flood(z, level, src, 8)
    depth_s = best(lambda: fill.depths(z, level, wet), args.repeat)
    console.print(f"depth raster: {depth_s:.3f} s (information)")
    console.print(
        f"worst median paired ratio fill / scipy label: {worst:.2f}x (target <= 1.5x): "
        + ("[green]met[/]" if worst <= 1.5 else "[red]not met[/]")
    )


if __name__ == "__main__":
    main()
