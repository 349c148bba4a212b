"""The project-managed PostGIS cluster under ``$TWIN_DATA_DIR/pg``.

Used when ``TWIN_DATABASE_URL`` is unset. It listens on 127.0.0.1 on its own port (never
5432, so it never meets a system cluster) with trust authentication for the local role
``twin``, and no Unix socket (socket paths are length-limited and the data dir may be deep).
``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geodata.errors import ConfigError

LOGGER = logging.getLogger(__name__)
ROLE = "twin"
DBNAME = "twin"


def find_bindir() -> Path:
    """Directory of initdb/pg_ctl: newest Debian versioned bin folder, else pg_config's."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for c in reversed(candidates):
        if (Path(c) / "initdb").exists():
            return Path(c)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    raise ConfigError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make setup` "
        "(installs postgresql and postgresql-15-postgis-3) or set TWIN_DATABASE_URL"
    )


def preload_options(bindir: Path) -> str:
    """Server options that load PostGIS into the postmaster, when its library is there.

    A backend otherwise loads ``postgis-3.so`` at its first PostGIS call: about 9 ms per
    connection, paid by every command (a small incremental tile build makes one; an
    import several). Loaded once at start, every backend inherits it by fork. Given on
    the command line, not in postgresql.conf, so clusters made before this apply it too.
    The raster library is left out: it would bring GDAL into every backend."""
    lib = bindir.parent / "lib"
    return " -c shared_preload_libraries=postgis-3" if (lib / "postgis-3.so").exists() else ""


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedPostgres:
    """A private cluster: ``init`` once, then ``start``/``stop``; all state lives in ``root``."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DBNAME}"

    # -- running binaries as the right user -------------------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def _run(self, argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._as_owner(argv), capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise ConfigError(
                f"{what} failed (exit {proc.returncode}):\n  "
                + "\n  ".join(detail)
                + f"\n  see {self.logfile}"
            )
        return proc

    def _prepare_root_for_postgres_user(self) -> None:
        """As root, hand the cluster folder to ``postgres`` and make its parents traversable."""
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise ConfigError(
                "running as root needs the `postgres` system user (from the postgresql "
                "package) to own the cluster: run `make setup`"
            ) from None
        self.root.mkdir(parents=True, exist_ok=True)
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid)
        # postgres must traverse every parent (mktemp dirs are 0700): add o+x only.
        for parent in self.root.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                LOGGER.info("allowing the postgres user to traverse %s (o+x)", parent)
                os.chmod(parent, mode | 0o001)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster if it does not exist. Returns True when it was created."""
        if self.initialised:
            return False
        bindir = find_bindir()
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root_for_postgres_user()
        LOGGER.info("creating a PostgreSQL cluster in %s", self.data)
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                ROLE,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            "initdb",
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# set by twin\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "fsync = on\nsynchronous_commit = off\nmax_wal_size = '2GB'\n"
                "shared_buffers = '256MB'\nwork_mem = '32MB'\nmaintenance_work_mem = '256MB'\n"
                "max_connections = 100\n"
            )
        return True

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        return pid_file.exists() and port_open(self.port)

    def start(self, timeout: float = 60) -> bool:
        """Start the cluster (creating it first). Returns True when this call started it."""
        self.init()
        if self.running():
            return False
        if port_open(self.port):
            raise ConfigError(
                f"port {self.port} is taken by another program: set TWIN_PG_PORT to a free port"
            )
        bindir = find_bindir()
        if os.geteuid() == 0:
            self._prepare_root_for_postgres_user()
        LOGGER.info("starting PostgreSQL on 127.0.0.1:%s", self.port)
        self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}{preload_options(bindir)}",
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            "starting PostgreSQL",
        )
        self._ensure_database()
        return True

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster if it runs (``mode`` as ``pg_ctl stop -m``: ``immediate`` is a
        crash, what the chaos tests use). Returns True when it was running."""
        if not (self.data / "postmaster.pid").exists():
            return False
        bindir = find_bindir()
        self._run(
            [str(bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
            "stopping PostgreSQL",
        )
        return True

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 20
        while True:
            try:
                conn = psycopg.connect(
                    f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres", autocommit=True
                )
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DBNAME}")
