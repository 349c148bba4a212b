"""Benchmark: the web viewer on the demo district, in headless Chromium.

Measures what a person waits for and what the network carries:

- time to the first rendered frame with tiles in it, and to the complete first view;
- bytes on the wire for that first view (compressed, as sent), split by kind;
- frames per second while the camera flies a lap over the district (tiles streaming).

The script starts a private PostGIS cluster (temp dir, free port), loads the demo, builds the
tiles and serves the twin with the built viewer in a thread, then runs
``viewer/tests/bench.mjs`` (playwright-core driving Debian's Chromium with SwiftShader: this
machine has no GPU, so frame rates are those of a software rasteriser, a floor, not what a
laptop GPU gives). ``--url`` measures a twin that is already running instead.

    .venv/bin/python bench/viewer.py [--url http://127.0.0.1:8000] [--fly-seconds 10] [--json]
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


def ensure_viewer() -> None:
    if not (VIEWER / "dist" / "index.html").exists() or not (VIEWER / "node_modules").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)


def run_browser(url: str, fly_seconds: float) -> dict:
    out = subprocess.run(
        ["node", "tests/bench.mjs", "--fly-seconds", str(fly_seconds)],
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


def report(r: dict) -> None:
    t = Table(title="Viewer on the demo district (headless Chromium, SwiftShader)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("time to first rendered frame", f"{r['time_to_first_frame_ms'] / 1000:.2f} s")
    t.add_row("time to complete first view", f"{r['time_to_complete_first_view_ms'] / 1000:.2f} s")
    t.add_row(
        "bytes for the first view",
        f"{r['first_view_bytes'] / 1e6:.2f} MB in {r['first_view_requests']} requests",
    )
    for kind, n in sorted(r["first_view_bytes_by_kind"].items(), key=lambda kv: -kv[1]):
        t.add_row(f"  of which {kind}", f"{n / 1e6:.2f} MB")
    fly = r["fly"]
    t.add_row(
        "FPS flying over the district",
        f"{fly['fps']:.1f} ({fly['frames']} frames "
        f"in {fly['seconds']:.1f} s, p95 frame {fly['p95_frame_ms']:.0f} ms)",
    )
    t.add_row("software GL", str(fly["software_gl"]))
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="measure this running twin instead of starting one")
    ap.add_argument("--fly-seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print the raw JSON too")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    ensure_viewer()
    if args.url:
        result = run_browser(args.url.rstrip("/"), args.fly_seconds)
    else:
        with demo_twin(args.keep) as url:
            result = run_browser(url, args.fly_seconds)
    report(result)
    if args.json:
        console.print_json(json.dumps(result))


if __name__ == "__main__":
    main()
