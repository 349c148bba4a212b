"""Benchmark: the web viewer on the demo district or a synthetic city, in headless Chromium.

Measures what a person waits for, what the network carries and what the page keeps:

- time to the first rendered frame with tiles in it, and to the complete first view;
- bytes for that first view (on the wire, compressed as sent, by kind; decoded, and as a
  share of the tileset's bytes on disk);
- frames per second while the camera flies laps over the city (tiles streaming), and the JS
  heap after each lap (after a forced garbage collection: a cache that is not bounded grows);

and the same for a peer, CesiumJS (the usual 3D Tiles engine of the web), on the same tileset,
viewport and camera path, with the ratios. The peer lives in its own npm project
(``viewer/bench/cesium-peer``, installed from its lock file on first use, never a CDN) and is
served under the twin's origin by request interception.

The script starts a private PostGIS cluster (temp dir, free port), loads the demo (or, with
``--buildings N``, N synthetic buildings from :mod:`tiles.synthetic`: the city scale case),
builds the tiles and serves the twin with the built viewer in a thread, then runs
``viewer/tests/bench.mjs`` (playwright-core driving Debian's Chromium with SwiftShader: this
machine has no GPU, so frame rates are those of a software rasteriser, a floor, not what a
laptop GPU gives). ``--url`` measures a twin that is already running instead.

    .venv/bin/python bench/viewer.py [--buildings 100000] [--url http://127.0.0.1:8000]
                                     [--fly-seconds 10] [--laps 3] [--rounds 1] [--no-peer] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VIEWER = ROOT / "viewer"
PEER = VIEWER / "bench" / "cesium-peer"
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tileset_bytes(folder: Path) -> int:
    """Bytes of a built tileset as a viewer could fetch them: tileset.json and content, not
    the gzip companions or the build manifest."""
    return sum(
        f.stat().st_size
        for f in folder.rglob("*")
        if f.is_file() and f.suffix in (".json", ".glb") and f.name != "build.json"
    )


def _load_synthetic(engine: object, n: int) -> None:
    from sqlalchemy import text

    from geodata.working_crs import set_working_crs
    from tiles import synthetic

    with engine.begin() as conn:  # type: ignore[attr-defined]
        set_working_crs(conn, 3067)
        synthetic.insert_buildings(conn, n)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("ANALYZE buildings"))


@contextmanager
def served_twin(keep: bool = False, buildings: int | None = None) -> Iterator[tuple[str, int]]:
    """A served twin with the demo district (or ``buildings`` synthetic buildings) and its
    tiles; yields its base URL and the buildings tileset's bytes."""
    import uvicorn

    from bench.access import private_postgis
    from geodata.demo import load_demo
    from tiles.build import build_all, build_tileset
    from twin.app import create_app
    from twin.settings import Settings

    with private_postgis("viewer", keep=keep) as db:
        settings = Settings(database_url=db.url, data_dir=db.work / "var", _env_file=None)
        engine = db.engine
        if buildings:
            with console.status(f"generating {buildings:,} buildings and building their tiles"):
                _load_synthetic(engine, buildings)
                t0 = time.perf_counter()
                build_tileset(engine, "buildings", settings.tiles_dir)
                console.print(f"[bench] tiles built in {time.perf_counter() - t0:.1f} s")
        else:
            with console.status("loading the demo district and building its tiles"):
                load_demo(engine)
                build_all(engine, settings.tiles_dir)
        total = tileset_bytes(settings.tiles_dir / "buildings")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the twin did not start")
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", total
        finally:
            server.should_exit = True
            thread.join(timeout=15)


def ensure_viewer(peer: bool) -> None:
    if not (VIEWER / "dist" / "index.html").exists() or not (VIEWER / "node_modules").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)
    if peer and not (PEER / "node_modules" / "cesium").exists():
        console.print("[bench] installing the CesiumJS peer from its lock file")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER, check=True
        )


def run_browser(url: str, fly_seconds: float, peer: bool, laps: int, rounds: int) -> dict:
    out = subprocess.run(
        ["node", "tests/bench.mjs", "--fly-seconds", str(fly_seconds)]
        + ["--laps", str(laps), "--rounds", str(rounds)]
        + (["--peer"] if peer else []),
        cwd=VIEWER,
        env={**os.environ, "TWIN_URL": url},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"viewer bench failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout[out.stdout.index("{") :])


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _lap_heap(i: int) -> Callable[[dict], float]:
    return lambda x: x["laps"][i]["heap_bytes"] / 2**20


#: (label, unit, value of one run, True when lower is better)
MEASURES: list[tuple[str, str, Callable[[dict], float], bool]] = [
    ("first frame", "s", lambda x: x["time_to_first_frame_ms"] / 1000, True),
    ("first view complete", "s", lambda x: x["time_to_complete_first_view_ms"] / 1000, True),
    (
        "first view: tile bytes on the wire",
        "MB",
        lambda x: x["first_view"]["tile_bytes"] / 1e6,
        True,
    ),
    (
        "first view: tile bytes decoded",
        "MB",
        lambda x: x["first_view"]["tile_decoded_bytes"] / 1e6,
        True,
    ),
    ("first view: requests", "", lambda x: x["first_view"]["requests"], True),
    ("FPS flying (all laps)", "fps", lambda x: x["fly"]["fps"], False),
    ("FPS, slowest lap", "fps", lambda x: x["fly"]["min_lap_fps"], False),
    ("JS heap after the first view", "MB", lambda x: x["heap_first_view_bytes"] / 2**20, True),
]


def report(r: dict, total_bytes: int | None, title: str) -> dict[str, dict[str, float]]:
    """Print the table (medians over rounds) and return it as {measure: {viewer, peer, ratio}}."""
    rounds = r["rounds"]
    peer = "cesium" in rounds[0]
    laps = len(rounds[0]["viewer"]["laps"])
    measures = MEASURES + [
        (f"JS heap after lap {i + 1}", "MB", _lap_heap(i), True) for i in range(laps)
    ]
    t = Table(title=f"{title} (headless Chromium, SwiftShader: no GPU; median of {len(rounds)})")
    t.add_column("measure")
    t.add_column("twin viewer", justify="right")
    if peer:
        t.add_column("CesiumJS (peer)", justify="right")
        t.add_column("viewer ahead by", justify="right")
    out: dict[str, dict[str, float]] = {}
    for label, unit, value, lower in measures:
        a = _median([value(x["viewer"]) for x in rounds])
        cells = [f"{a:.2f} {unit}".strip()]
        row = {"viewer": a}
        if peer:
            b = _median([value(x["cesium"]) for x in rounds])
            ratio = (b / a if lower else a / b) if a and b else float("nan")
            cells += [f"{b:.2f} {unit}".strip(), f"{ratio:.2f}x"]
            row |= {"peer": b, "ratio": ratio}
        t.add_row(label, *cells)
        out[label] = row
    if total_bytes:
        share = out["first view: tile bytes decoded"]
        a = share["viewer"] * 1e6 / total_bytes
        cells = [f"{a:.1%}"]
        if peer:
            b = share["peer"] * 1e6 / total_bytes
            cells += [f"{b:.1%}", f"{b / a:.2f}x" if a else ""]
        t.add_row(f"first view: share of the tileset ({total_bytes / 1e6:.1f} MB)", *cells)
        out["first view share"] = {"viewer": a, **({"peer": b} if peer else {})}
    growth = [
        x["viewer"]["laps"][-1]["heap_bytes"] - x["viewer"]["laps"][0]["heap_bytes"] for x in rounds
    ]
    cells = [f"{_median(growth) / 2**20:+.1f} MB"]
    if peer:
        pg = [
            x["cesium"]["laps"][-1]["heap_bytes"] - x["cesium"]["laps"][0]["heap_bytes"]
            for x in rounds
        ]
        cells += [f"{_median(pg) / 2**20:+.1f} MB", ""]
    t.add_row(f"JS heap, lap {laps} minus lap 1", *cells)
    console.print(t)
    console.print(
        "viewer ahead by: peer/viewer for times, bytes and heap, viewer/peer for FPS (>1: the "
        "viewer wins). Frame rates are those of a software rasteriser on a shared machine; "
        "the two run one after the other on the same tiles, camera path and viewport."
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="measure this running twin instead of starting one")
    ap.add_argument("--buildings", type=int, help="a synthetic city of N buildings, not the demo")
    ap.add_argument("--fly-seconds", type=float, default=10.0)
    ap.add_argument("--laps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="alternate viewer and peer N times")
    ap.add_argument("--no-peer", action="store_true", help="skip the CesiumJS peer")
    ap.add_argument("--json", action="store_true", help="print the raw JSON too")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    if args.buildings is not None and args.buildings < 1:
        ap.error("--buildings must be a positive number of buildings")
    peer = not args.no_peer
    ensure_viewer(peer)
    browse = (args.fly_seconds, peer, args.laps, args.rounds)
    total: int | None = None
    if args.url:
        result = run_browser(args.url.rstrip("/"), *browse)
    else:
        with served_twin(args.keep, args.buildings) as (url, total):
            result = run_browser(url, *browse)
    title = (
        f"Viewer on {args.buildings:,} synthetic buildings"
        if args.buildings
        else "Viewer on the demo district"
    )
    table = report(result, total, title)
    if args.json:
        console.print_json(json.dumps({"table": table, "raw": result}))


if __name__ == "__main__":
    main()
