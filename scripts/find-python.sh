#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain what to install and fail.
# An explicit PYTHON=... (environment or make variable) always wins.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
  if ok "$PYTHON"; then command -v "$PYTHON" || echo "$PYTHON"; exit 0; fi
  echo "find-python: PYTHON=$PYTHON is not a Python >= 3.12 with the venv module" >&2; exit 1
fi
cands=()
for n in python3.13 python3.12 python3; do
  p="$(command -v "$n" 2>/dev/null)" && cands+=("$p")
done
for root in "${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv /opt/pyenv; do
  for p in "$root"/versions/3.13*/bin/python3.13 "$root"/versions/3.12*/bin/python3.12; do
    [ -x "$p" ] && cands+=("$p")
  done
done
for p in /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do
  [ -x "$p" ] && cands+=("$p")
done
# Prefer 3.12 (the version pygeoapi 0.24 and our pins are tested on), then newer.
for want in 3.12 3.13 any; do
  for p in "${cands[@]}"; do
    if ok "$p"; then
      v="$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
      if [ "$want" = any ] || [ "$v" = "$want" ]; then echo "$p"; exit 0; fi
    fi
  done
done
cat >&2 <<'MSG'
find-python: no Python >= 3.12 found (pygeoapi 0.22+ needs it).
  Ubuntu 24.04:  apt-get install python3 python3-venv          (3.12 is the system Python)
  Debian 12:     install one with pyenv (pyenv install 3.12) or uv (uv python install 3.12)
  then run:      make run PYTHON=/path/to/python3.12
MSG
exit 1
