"""docker/nginx in front of the real app: the machine's nginx runs the entrypoint's rendered
config (TLS with the generated self-signed certificate, on free ports) before a real uvicorn
serving the twin, so these are the answers a deployment gives, not a grep of the file.

Checked: plain HTTP only redirects; the forwarded scheme, host and port reach the app's
paging links; public tiles are cached once for every caller under a key without credentials
(no token in any cache file), restricted ones are never stored; a body over 16 MiB is refused.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import Engine
from websockets.sync.client import connect

from tests.conftest import free_port
from tests.deploy_support import start, wait_port
from tests.test_tiles_support import helsinki
from tiles import synthetic
from tiles.build import build_all
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

__all__ = ["helsinki"]
DOCKER = Path(__file__).resolve().parent.parent / "docker"
ENTRYPOINT = DOCKER / "nginx" / "entrypoint.sh"


def _nginx() -> str:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    assert exe, "nginx is not installed: run `make setup` (installs Debian's nginx)"
    return exe


def _main_conf(root: Path, server_conf: Path) -> Path:
    """The http{} wrapper the nginx image provides, with every path under ``root``."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read root's temp folder
    temp = "".join(f"  {k}_temp_path {root / k};\n" for k in ("client_body", "proxy"))
    temp += "".join(f"  {k}_temp_path {root / k};\n" for k in ("fastcgi", "uwsgi", "scgi"))
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {root / 'access.log'};\n{temp}  include {server_conf};\n}}\n"
    )
    return conf


@dataclass
class Front:
    http: int
    https: int
    root: Path

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "tls.crt"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=f"https://127.0.0.1:{self.https}", verify=context)


def _env(root: Path, upstream: int, http: int, https: int) -> dict[str, str]:
    return {
        **os.environ,
        "TWIN_NGINX_CONF": str(root / "twin.conf"),
        "TWIN_UPSTREAM": f"127.0.0.1:{upstream}",
        "TWIN_HTTP_LISTEN": f"127.0.0.1:{http}",
        "TWIN_HTTPS_LISTEN": f"127.0.0.1:{https}",
        "TWIN_HTTPS_PORT": str(https),
        "TWIN_TLS_CERT": str(root / "tls" / "tls.crt"),
        "TWIN_TLS_KEY": str(root / "tls" / "tls.key"),
        "TWIN_NGINX_CACHE": str(root / "cache"),
        "TWIN_NGINX_ACCESS_LOG": str(root / "access.log"),
    }


@pytest.fixture
def tokens(helsinki: Engine, settings: Settings) -> dict[str, str]:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 30)
        synthetic.insert_network(conn, "water", 10)
    build_all(helsinki, settings.tiles_dir, layer="buildings", workers=1)
    build_all(helsinki, settings.tiles_dir, layer="water", workers=1)
    return {r: create_user(helsinki, f"u-{r}", r) for r in ("agent", "citizen", "planner")}


@pytest.fixture
def app_port(helsinki: Engine, settings: Settings) -> Iterator[int]:
    """The twin served by a real uvicorn, trusting forwarded headers from 127.0.0.1 only."""
    port = free_port()
    app = create_app(settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1"}), helsinki)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def front(app_port: int, tmp_path: Path) -> Iterator[Front]:
    root = tmp_path / "nginx"
    root.mkdir()
    http, https = free_port(), free_port()
    env = _env(root, app_port, http, https)
    conf = _main_conf(root, root / "twin.conf")
    argv = ["sh", str(ENTRYPOINT), _nginx(), "-p", str(root), "-c", str(conf), "-g", "daemon off;"]
    proc = start(argv, env, https)
    yield Front(http, https, root)
    proc.terminate()
    proc.wait(timeout=10)


def test_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    env = _env(tmp_path, 8000, 8080, 8443)
    conf = _main_conf(tmp_path, tmp_path / "twin.conf")
    proc = subprocess.run(
        ["sh", str(ENTRYPOINT), _nginx(), "-t", "-p", str(tmp_path), "-c", str(conf)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "self-signed" in proc.stderr and (tmp_path / "tls" / "tls.key").stat().st_mode & 0o077 == 0
    )
    rendered = (tmp_path / "twin.conf").read_text()
    assert "${" not in rendered and "$host" in rendered  # ours substituted, nginx's kept
    assert "http_authorization" not in rendered


def test_bad_public_port_is_refused(tmp_path: Path) -> None:
    env = {**_env(tmp_path, 8000, 8080, 8443), "TWIN_HTTPS_PORT": "84x3"}
    proc = subprocess.run(["sh", str(ENTRYPOINT), "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("entrypoint: TWIN_HTTPS_PORT must be a port number, got '84x3'")


def test_plain_http_only_redirects_to_https(front: Front) -> None:
    r = httpx.get(f"http://127.0.0.1:{front.http}/collections?f=json", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"https://127.0.0.1:{front.https}/collections?f=json"


def test_paging_links_carry_the_public_scheme_host_and_port(front: Front, tokens: object) -> None:
    with front.client() as c:
        page = c.get(
            "/collections/buildings/items?limit=2", headers={"Host": f"twin.example:{front.https}"}
        )
    assert page.status_code == 200, page.text
    links = {link["rel"]: link["href"] for link in page.json()["links"]}
    base = f"https://twin.example:{front.https}/collections/buildings/items?"
    assert links["next"].startswith(base) and "offset=2" in links["next"]
    assert links["self"].startswith(base)


def test_public_tiles_are_cached_once_without_credentials(
    front: Front, tokens: dict[str, str]
) -> None:
    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    with front.client() as c:
        doc = c.get("/tiles/buildings/tileset.json").json()
        tile = f"/tiles/buildings/{doc['root']['content']['uri']}"
        first = c.get(tile, headers=auth("citizen"))
        assert first.status_code == 200 and first.headers["x-cache"] == "MISS"
        assert first.headers["cache-control"].startswith("public")
        # another token, then none: the same stored answer, not one copy per token
        assert c.get(tile, headers=auth("planner")).headers["x-cache"] == "HIT"
        anonymous = c.get(tile)
        assert anonymous.headers["x-cache"] == "HIT" and anonymous.content == first.content
        # tileset.json must revalidate (`no-cache`): never stored
        assert c.get("/tiles/buildings/tileset.json").headers["x-cache"] != "HIT"
        stored = sorted(p for p in front.cache.rglob("*") if p.is_file())
        assert len(stored) == 1
        # a restricted tileset: private, so never stored, and still refused without a token
        water = c.get("/tiles/network-water/tileset.json", headers=auth("agent")).json()
        pipe = f"/tiles/network-water/{water['root']['content']['uri']}"
        for _ in range(2):
            r = c.get(pipe, headers=auth("agent"))
            assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
            assert r.headers["x-cache"] != "HIT"
        assert c.get(pipe).status_code == 401
        assert c.get(pipe, headers=auth("citizen")).status_code == 403
    assert sorted(p for p in front.cache.rglob("*") if p.is_file()) == stored
    for path in stored:
        data = path.read_bytes()
        assert all(t.encode() not in data for t in tokens.values())
        assert b"Authorization" not in data and b"Bearer" not in data


def test_bodies_over_16_mib_are_refused(front: Front) -> None:
    context = ssl.create_default_context(cafile=str(front.cert))
    with (
        socket.create_connection(("127.0.0.1", front.https)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Content-Length: {16 * 2**20 + 1}\r\n\r\n".encode()
        )
        status = tls.recv(64).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 413 Request Entity Too Large"


def test_websockets_go_through_with_the_token_kept_out_of_the_log(
    front: Front, tokens: dict[str, str]
) -> None:
    context = ssl.create_default_context(cafile=str(front.cert))
    url = f"wss://127.0.0.1:{front.https}/ws/live?token={tokens['agent']}"
    with connect(url, ssl=context, server_hostname="localhost", open_timeout=10) as ws:
        ws.send('{"subscribe": {"layers": ["cameras"]}}')  # agent-only: the token came through
        doc = orjson.loads(ws.recv(timeout=10))
        assert doc["type"] == "snapshot", doc
        assert doc["subscription"]["layers"] == ["cameras"]
    deadline = time.monotonic() + 10
    log = ""
    while "/ws/live" not in log and time.monotonic() < deadline:
        log = (front.root / "access.log").read_text()
        time.sleep(0.1)
    line = next(x for x in log.splitlines() if "/ws/live" in x)
    assert '"GET /ws/live" 101' in line and tokens["agent"] not in log and "token" not in line
