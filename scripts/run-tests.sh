#!/usr/bin/env bash
# Run the whole suite against the project's own test cluster (var/test), separate from the
# one `make run` serves. Exits non-zero on any failure, and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
export CADASTRE_TEST_DATA_DIR="${CADASTRE_TEST_DATA_DIR:-$PWD/var/test}"
mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "run-tests: no test ran" >&2; exit 1; fi
exit "$rc"
