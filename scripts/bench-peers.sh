#!/usr/bin/env bash
# Peers the benchmarks run that cannot share the twin's environment: cjdb (3DGI's CityJSON
# <-> PostgreSQL tool) pins numpy < 2, so it gets a virtual environment of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=var/peers
if [ ! -x "$PEERS/cjdb/bin/cjdb" ]; then
  echo "[bench] installing cjdb into $PEERS/cjdb"
  .venv/bin/uv venv -q --python .venv/bin/python "$PEERS/cjdb"
  .venv/bin/uv pip install -q --python "$PEERS/cjdb/bin/python" "cjdb==2.3.0" "psycopg[binary]>=3.1" "sqlalchemy<2.1"
# (cjdb connects with psycopg 3 without asking for it; its geoalchemy2 0.13 needs SQLAlchemy 2.0)
fi
