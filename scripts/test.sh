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
# Together they run every test once on SQLite, and the database suites (registry, data quality, security,
# interchange, the clinic's data entry and what public pages read of the registry) again on PostgreSQL.
# The statistics suites that never touch a database, the random disclosure attack and the security
# checks of files (secrets, dependencies, traceability) run once, in the PostgreSQL pass's process, so the
# two passes take about as long as each other.
LOGS=$(mktemp -d -t openhsct-logs-XXXX)
trap 'rm -rf "$OPENHSCT_HOME" "$LOGS"' EXIT
mkdir -p "$OPENHSCT_HOME/sqlite" "$OPENHSCT_HOME/postgresql"

mapfile -t NO_DB < <(ls tests/outcomes/test_*.py tests/evidence/test_*.py tests/comparative/test_*.py \
  | grep -v -e /test_outcomes_cli.py -e /test_cli_and_portal.py)
NO_DB+=(tests/releases/test_disclosure_attack.py::test_random_small_registries_give_nothing_away
  tests/security/test_no_secrets.py tests/security/test_dependencies.py tests/security/test_traceability.py)
SQLITE_SKIP=()
for t in "${NO_DB[@]}"; do
  case "$t" in *::*) SQLITE_SKIP+=(--deselect "$t") ;; *) SQLITE_SKIP+=(--ignore "$t") ;; esac
done
PG_SUITES=(tests/registry tests/quality tests/security tests/interop tests/portal/test_clinic.py
  tests/portal/test_consent_public.py tests/portal/test_page_cache.py tests/portal/test_privacy.py)

OPENHSCT_HOME="$OPENHSCT_HOME/sqlite" env -u OPENHSCT_DATABASE_URL "$PY" -m pytest -q -p no:cacheprovider \
  --durations=25 "${SQLITE_SKIP[@]}" "$@" > "$LOGS/sqlite.txt" 2>&1 &
sqlite_pid=$!
OPENHSCT_HOME="$OPENHSCT_HOME/postgresql" OPENHSCT_DATABASE_URL="$PG_URL" OPENHSCT_TEST_BACKEND=postgresql \
  "$PY" -m pytest -q -p no:cacheprovider --durations=25 -m "not browser and not sqlite_pass" \
  "${PG_SUITES[@]}" "${NO_DB[@]}" > "$LOGS/postgresql.txt" 2>&1 &
pg_pid=$!

sqlite_rc=0; pg_rc=0
wait "$sqlite_pid" || sqlite_rc=$?
wait "$pg_pid" || pg_rc=$?
echo "== the suite on SQLite (exit $sqlite_rc)"
cat "$LOGS/sqlite.txt"
echo "== the database suites on PostgreSQL, and the database-free suites (exit $pg_rc)"
cat "$LOGS/postgresql.txt"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ]
