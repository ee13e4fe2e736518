#!/usr/bin/env bash
# Install the front-end packages from npm and copy their browser builds to web/static/vendor.
# Idempotent: does nothing when the vendored files match package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=web/static/vendor
stamp="$dest/.stamp"
lock_sum="$( (cat package.json package-lock.json 2>/dev/null || true) | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "frontend: installing nodejs and npm"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "frontend: npm not found; install Node.js and npm (apt-get install nodejs npm)" >&2; exit 1
  fi
fi
echo "frontend: npm install"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
mkdir -p "$dest"
cp node_modules/maplibre-gl/dist/maplibre-gl.js node_modules/maplibre-gl/dist/maplibre-gl.css "$dest"/
cp node_modules/chart.js/dist/chart.umd.min.js "$dest"/chart.umd.js 2>/dev/null || cp node_modules/chart.js/dist/chart.umd.js "$dest"/chart.umd.js
cp node_modules/hls.js/dist/hls.min.js "$dest"/hls.js
lock_sum="$( (cat package.json package-lock.json 2>/dev/null || true) | sha256sum | cut -c1-16)"
echo "$lock_sum" > "$stamp"
echo "frontend: vendored $(ls "$dest" | grep -v '^\.' | tr '\n' ' ')"
