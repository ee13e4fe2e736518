#!/usr/bin/env bash
# Run the whole suite against the project's own test cluster (var/test), separate from the
# one `make run` serves. Exits non-zero on any failure, and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
export CADASTRE_TEST_DATA_DIR="${CADASTRE_TEST_DATA_DIR:-$PWD/var/test}"
mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
rc=$?
# Stop the test cluster this run used (the one `make run` serves is a different data dir).
if [ -z "${CADASTRE_TEST_DATABASE_URL:-}" ] && [ -z "${CADASTRE_KEEP_TEST_CLUSTER:-}" ]; then
  CADASTRE_DATA_DIR="$CADASTRE_TEST_DATA_DIR" .venv/bin/cadastre-gis db down >/dev/null 2>&1 || true
fi
if [ "$rc" = 5 ]; then echo "run-tests: no test ran" >&2; exit 1; fi
exit "$rc"
