#!/usr/bin/env bash
# Installs what the twin needs and is missing: Debian packages (as root or through sudo),
# then the Python environment .venv from the lock file. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

need=()
have_pg_bin() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_postgis() { ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; }
have_pg_bin || need+=(postgresql)
have_postgis || need+=(postgresql-15-postgis-3)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ogr2ogr >/dev/null 2>&1 || need+=(gdal-bin)
# the tests run docker/nginx's rendered config with a real nginx in front of the app
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# `docker compose config` checks docker/compose.yaml in the tests; no engine is needed
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
  || need+=(docker-compose)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian may start a system mosquitto/postgresql/nginx after install; the twin runs its own.
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  say "installing uv into .venv"
  .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check 'uv==0.13.9'
fi
if [ ! -f .venv/.synced ] || [ uv.lock -nt .venv/.synced ] || [ pyproject.toml -nt .venv/.synced ]; then
  say "installing Python dependencies from uv.lock"
  UV_PROJECT_ENVIRONMENT=.venv UV_PYTHON_DOWNLOADS=never \
    .venv/bin/uv sync --locked --extra dev --python .venv/bin/python --quiet --compile-bytecode
  touch .venv/.synced
fi
say "ready"
