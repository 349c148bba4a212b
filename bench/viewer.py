"""Benchmark: the web viewer on the demo district, in headless Chromium.

Measures what a person waits for and what the network carries:

- time to the first rendered frame with tiles in it, and to the complete first view;
- bytes on the wire for that first view (compressed, as sent), split by kind;
- frames per second while the camera flies a lap over the district (tiles streaming);

and the same for a peer, CesiumJS (the usual 3D Tiles engine of the web), on the same tileset,
viewport and camera path, with the ratios. The peer lives in its own npm project
(``viewer/bench/cesium-peer``, installed from its lock file on first use, never a CDN) and is
served under the twin's origin by request interception.

The script starts a private PostGIS cluster (temp dir, free port), loads the demo, builds the
tiles and serves the twin with the built viewer in a thread, then runs
``viewer/tests/bench.mjs`` (playwright-core driving Debian's Chromium with SwiftShader: this
machine has no GPU, so frame rates are those of a software rasteriser, a floor, not what a
laptop GPU gives). ``--url`` measures a twin that is already running instead.

    .venv/bin/python bench/viewer.py [--url http://127.0.0.1:8000] [--fly-seconds 10] [--no-peer]
                                     [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
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


@contextmanager
def demo_twin(keep: bool = False) -> Iterator[str]:
    """A served twin with the demo district and its tiles; yields its base URL."""
    import uvicorn

    from geodata.db import make_engine, migrate
    from geodata.demo import load_demo
    from tiles.build import build_all
    from twin.app import create_app
    from twin.services.postgres import EmbeddedPostgres
    from twin.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="twin-bench-viewer-"))
    pg = EmbeddedPostgres(tmp / "pg", free_port())
    pg.start()
    try:
        url = pg.url.replace("postgresql://", "postgresql+psycopg://")
        migrate(url)
        settings = Settings(database_url=url, data_dir=tmp / "var", _env_file=None)
        engine = make_engine(settings.sqlalchemy_url)
        with console.status("loading the demo district and building its tiles"):
            load_demo(engine)
            build_all(engine, settings.tiles_dir)
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
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            engine.dispose()
    finally:
        pg.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_viewer(peer: bool) -> None:
    if not (VIEWER / "dist" / "index.html").exists() or not (VIEWER / "node_modules").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)
    if peer and not (PEER / "node_modules" / "cesium").exists():
        console.print("[bench] installing the CesiumJS peer from its lock file")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER, check=True
        )


def run_browser(url: str, fly_seconds: float, peer: bool) -> dict:
    out = subprocess.run(
        ["node", "tests/bench.mjs", "--fly-seconds", str(fly_seconds)]
        + (["--peer"] if peer else []),
        cwd=VIEWER,
        env={**os.environ, "TWIN_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"viewer bench failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout[out.stdout.index("{") :])


def _row(t: Table, what: str, ours: str, peer: str | None, ratio: str | None) -> None:
    t.add_row(what, ours, *([peer or "", ratio or ""] if peer is not None else []))


def report(r: dict) -> None:
    v = r["viewer"]
    c = r.get("cesium")
    t = Table(title="Viewer on the demo district (headless Chromium, SwiftShader: no GPU)")
    t.add_column("measure")
    t.add_column("twin viewer", justify="right")
    if c:
        t.add_column("CesiumJS (peer)", justify="right")
        t.add_column("peer / viewer", justify="right")

    def ms(key: str) -> None:
        a = v[key] / 1000
        b = c[key] / 1000 if c else None
        _row(
            t,
            key.replace("_ms", "").replace("_", " "),
            f"{a:.2f} s",
            f"{b:.2f} s" if c else None,
            f"{b / a:.1f}x" if c and a else None,
        )

    ms("time_to_first_frame_ms")
    ms("time_to_complete_first_view_ms")
    fv, pv = v["first_view"], (c["first_view"] if c else None)
    _row(
        t,
        "first view: all bytes",
        f"{fv['bytes'] / 1e6:.2f} MB ({fv['requests']} req.)",
        f"{pv['bytes'] / 1e6:.2f} MB ({pv['requests']} req.)" if pv else None,
        f"{pv['bytes'] / fv['bytes']:.1f}x" if pv else None,
    )
    _row(
        t,
        "first view: tile bytes",
        f"{fv['tile_bytes'] / 1e6:.2f} MB",
        f"{pv['tile_bytes'] / 1e6:.2f} MB" if pv else None,
        f"{pv['tile_bytes'] / fv['tile_bytes']:.2f}x" if pv else None,
    )
    for kind, n in sorted(fv["by_kind"].items(), key=lambda kv: -kv[1]):
        p = pv["by_kind"].get(kind) if pv else None
        _row(
            t,
            f"  {kind}",
            f"{n / 1e6:.2f} MB",
            (f"{p / 1e6:.2f} MB" if p is not None else "-") if pv else None,
            None,
        )
    fa, fb = v["fly"], (c["fly"] if c else None)
    _row(
        t,
        "FPS flying a lap",
        f"{fa['fps']:.1f} ({fa['frames']} frames)",
        f"{fb['fps']:.1f} ({fb['frames']} frames)" if fb else None,
        f"{fb['fps'] / fa['fps']:.2f}x" if fb and fa["fps"] else None,
    )
    console.print(t)
    console.print(
        "FPS: the viewer lowers its resolution while the camera moves when frames are slow "
        "(software GL here); CesiumJS runs with its defaults. Tile bytes are the same tileset; "
        "the peer's app bytes are uncompressed (served by interception), the viewer's gzipped."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="measure this running twin instead of starting one")
    ap.add_argument("--fly-seconds", type=float, default=10.0)
    ap.add_argument("--no-peer", action="store_true", help="skip the CesiumJS peer")
    ap.add_argument("--json", action="store_true", help="print the raw JSON too")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    peer = not args.no_peer
    ensure_viewer(peer)
    if args.url:
        result = run_browser(args.url.rstrip("/"), args.fly_seconds, peer)
    else:
        with demo_twin(args.keep) as url:
            result = run_browser(url, args.fly_seconds, peer)
    report(result)
    if args.json:
        console.print_json(json.dumps(result))


if __name__ == "__main__":
    main()
