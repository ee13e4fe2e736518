#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the platform needs, when they are missing.
#   scripts/system-deps.sh run    PostgreSQL + matching PostGIS, fonts, ffmpeg (serving)
#   scripts/system-deps.sh test   + gdal-bin, chromium, chromium-driver, poppler, QGIS (test clients),
#                                  nginx + openssl (tests/web/test_nginx.py runs the sample proxy config)
# Idempotent: prints one line and exits fast when everything is present.
set -euo pipefail
what="${1:-run}"

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

pg_major() {
  if command -v pg_config >/dev/null 2>&1; then
    pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'
  fi
}

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not a Debian/Ubuntu machine; install PostgreSQL with PostGIS (and for tests gdal-bin," >&2
  echo "  chromium, chromedriver, poppler-utils, QGIS python bindings) yourself, or set CADASTRE_DATABASE_URL." >&2
  exit 0
fi

major="$(pg_major || true)"
pkgs=()
if [ -z "$major" ]; then
  pkgs+=(postgresql postgresql-contrib)
fi
# Fonts for PDF extracts and receipts (Cyrillic and Uzbek Latin).
have_pkg fonts-dejavu-core || pkgs+=(fonts-dejavu-core)
# ffmpeg repackages camera streams to HLS for operators (-c copy) and makes the demo clip.
have_pkg ffmpeg || pkgs+=(ffmpeg)
need_postgis() {
  local m="$1"
  [ -n "$m" ] && ! have_pkg "postgresql-$m-postgis-3"
}

if [ "$what" = "test" ]; then
  for p in gdal-bin chromium chromium-driver poppler-utils libzbar0 nginx openssl; do
    have_pkg "$p" || pkgs+=("$p")
  done
fi

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo -n)
  else
    missing="${pkgs[*]}"
    if need_postgis "$major"; then missing="$missing postgresql-$major-postgis-3"; fi
    if [ -n "${missing// /}" ]; then
      echo "system-deps: missing Debian packages:$missing" >&2
      echo "  run as root:  apt-get update && apt-get install -y$missing" >&2
      echo "  (or set CADASTRE_DATABASE_URL to an existing PostGIS database)" >&2
      [ "$what" = "run" ] && exit 1
    fi
    exit 0
  fi
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    echo "system-deps: apt-get update"
    "${sudo_cmd[@]}" apt-get update -qq
    apt_updated=1
  fi
  echo "system-deps: installing $*"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
major="$(pg_major || true)"
if need_postgis "$major"; then apt_install "postgresql-$major-postgis-3" postgresql-contrib; fi

qgis_old() {
  # true when python3-qgis is missing or older than 3.32 (no OGC API Part 4 editing)
  local v
  v="$(dpkg-query -W -f='${Version}' python3-qgis 2>/dev/null || true)"
  [ -z "$v" ] && return 0
  dpkg --compare-versions "${v#*:}" lt 3.32
}
if [ "$what" = "test" ] && qgis_old && [ ! -e "${CADASTRE_STATE_DIR:-/tmp}/.cadastre-qgis-tried" ]; then
  touch "${CADASTRE_STATE_DIR:-/tmp}/.cadastre-qgis-tried" 2>/dev/null || true
  # QGIS >= 3.32 edits over OGC API Part 4; Debian 12 has 3.40 in bookworm-backports.
  . /etc/os-release
  suite="${VERSION_CODENAME:-}"
  if [ "$ID" = debian ] && [ -n "$suite" ]; then
    if ! grep -rqs "${suite}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # Reuse the mirror this machine already uses for its main suite.
      uri="$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
             | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)"
      if [ -n "$uri" ]; then
        echo "deb $uri ${suite}-backports main" | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/cadastre-backports.list >/dev/null
        apt_updated=0
      fi
    fi
    if [ "$apt_updated" = 0 ]; then "${sudo_cmd[@]}" apt-get update -qq; apt_updated=1; fi
    echo "system-deps: installing QGIS from ${suite}-backports (python3-qgis qgis-providers)"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      -t "${suite}-backports" python3-qgis qgis-providers >/dev/null \
      || { echo "system-deps: QGIS from backports failed; trying the release suite" >&2;
           DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-qgis qgis-providers >/dev/null || true; }
  else
    apt_install python3-qgis qgis-providers || true
  fi
fi
echo "system-deps ($what): ok"
