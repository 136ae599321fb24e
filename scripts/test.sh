#!/usr/bin/env bash
# The one test command (`make test`; `.ci/run` calls it). It installs what the tests need and runs
# the whole suite on SQLite and, side by side with it, the database suites on a real PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]} from Debian's packages (browser tests and PDF checks)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq && as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -f scripts/ensure-msprog-venv.sh ]; then
  echo "== pymsprog reference environment (.venv-msprog)"
  bash scripts/ensure-msprog-venv.sh
fi

echo "== PostgreSQL"
PG_URL=$(bash scripts/ensure-postgres.sh)
echo "using $PG_URL"

export OPENHSCT_HOME
OPENHSCT_HOME=$(mktemp -d -t openhsct-test-XXXX)
trap 'rm -rf "$OPENHSCT_HOME"' EXIT

# Under CI the property tests run their CI profiles (import fuzzing: tests/registry/test_import_fuzz.py).
if [ "${CI:-}" = "true" ]; then export OPENHSCT_FUZZ_PROFILE="${OPENHSCT_FUZZ_PROFILE:-ci}"; fi

echo "== ruff"
.venv/bin/ruff check --quiet src tests bench

# The two passes run side by side (much of each is waiting on databases, subprocesses and the browser);
# each writes its own log, printed in order when both have finished. Each pass has its own OPENHSCT_HOME.
LOGS=$(mktemp -d -t openhsct-logs-XXXX)
trap 'rm -rf "$OPENHSCT_HOME" "$LOGS"' EXIT
mkdir -p "$OPENHSCT_HOME/sqlite" "$OPENHSCT_HOME/postgresql"

OPENHSCT_HOME="$OPENHSCT_HOME/sqlite" env -u OPENHSCT_DATABASE_URL "$PY" -m pytest -q -p no:cacheprovider --durations=25 "$@" \
  > "$LOGS/sqlite.txt" 2>&1 &
sqlite_pid=$!
OPENHSCT_HOME="$OPENHSCT_HOME/postgresql" OPENHSCT_DATABASE_URL="$PG_URL" OPENHSCT_TEST_BACKEND=postgresql \
  "$PY" -m pytest -q -p no:cacheprovider --durations=25 -m "not browser" \
  tests/registry tests/portal tests/interop tests/quality tests/security > "$LOGS/postgresql.txt" 2>&1 &
pg_pid=$!

sqlite_rc=0; pg_rc=0
wait "$sqlite_pid" || sqlite_rc=$?
wait "$pg_pid" || pg_rc=$?
echo "== the whole suite on SQLite (exit $sqlite_rc)"
cat "$LOGS/sqlite.txt"
echo "== the database suites on PostgreSQL (exit $pg_rc)"
cat "$LOGS/postgresql.txt"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ]
