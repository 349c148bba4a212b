"""A throw-away twin for working on the viewer: `python viewer/tests/devserver.py [--port N]`.

Starts a private PostGIS cluster under /tmp, loads the demo district, builds every tileset,
creates an agent token (written to ``$DIR/agent.token``), starts the tests' OpenID Connect
provider (``tests/oidc_issuer.py``: users carla and dora, 12 s tokens, as the browser tests
have them) and serves the app with the built viewer at ``/``. A second run reuses the cluster
and the data. Not used by `make test` (tests/test_viewer_browser.py does the same with the
test fixtures); it shortens the edit-build-look loop: `npm run build`, reload, or
`node tests/run.mjs`.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
LOGGER = logging.getLogger("devserver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/viewer-demo"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import uvicorn

    from geodata.db import make_engine, migrate
    from geodata.demo import load_demo
    from tests.oidc_issuer import Issuer
    from tiles.build import build_all
    from twin.app import create_app
    from twin.accounts import create_user
    from twin.services.postgres import EmbeddedPostgres
    from twin.settings import Settings

    args.dir.mkdir(parents=True, exist_ok=True)
    state = args.dir / "state.json"
    pg_port = json.loads(state.read_text())["pg"] if state.exists() else free_port()
    pg = EmbeddedPostgres(args.dir / "pg", pg_port)
    pg.start()
    state.write_text(json.dumps({"pg": pg_port}))
    url = pg.url.replace("postgresql://", "postgresql+psycopg://")
    issuer = Issuer()
    issuer.token_seconds = 12
    issuer.register("twin-viewer", f"http://127.0.0.1:{args.port}/")
    settings = Settings(
        database_url=url,
        data_dir=args.dir / "var",
        oidc_issuer=issuer.url,
        oidc_audience=issuer.audience,
        oidc_jwks_url=f"{issuer.url}/jwks.json",
        oidc_client_id="twin-viewer",
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    token_file = args.dir / "agent.token"
    if not token_file.exists():
        migrate(url)
        load_demo(engine)
        token_file.write_text(create_user(engine, "dev-agent", "agent"))
    build_all(engine, settings.tiles_dir)
    app = create_app(settings, engine)
    LOGGER.info("agent token: %s", token_file.read_text())
    LOGGER.info("OpenID Connect provider (users %s): %s", ", ".join(issuer.users), issuer.url)
    LOGGER.info("http://127.0.0.1:%d/", args.port)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
