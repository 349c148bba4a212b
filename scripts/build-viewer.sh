#!/usr/bin/env bash
# Builds viewer/dist from the npm lock file; skips when nothing changed since the last build.
set -euo pipefail
cd "$(dirname "$0")/../viewer"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.installed ]; then
  echo "[viewer] installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi
stamp=dist/.built
if [ ! -f "$stamp" ] || [ -n "$(find src index.html package-lock.json vite.config.* -newer "$stamp" 2>/dev/null | head -1)" ]; then
  echo "[viewer] building"
  npm run build --silent
  touch "$stamp"
fi
