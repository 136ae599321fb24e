#!/usr/bin/env bash
# Print a PostgreSQL URL the tests can use, starting a throw-away server when none answers.
#   1. a server on 127.0.0.1:5432 (trust auth) — this machine kind runs one;
#   2. otherwise a temporary cluster from Debian's PostgreSQL binaries (installed when absent),
#      owned by the `postgres` user, on port 55432, in /tmp/openhsct-pg.
# Exits non-zero when neither works: under CI a missing PostgreSQL is a failure, never a skip.
set -euo pipefail
log() { echo "[ensure-postgres] $*" >&2; }

if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "postgresql://postgres@127.0.0.1:5432/openhsct"
  exit 0
fi

PORT=55432
DATA=/tmp/openhsct-pg
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  log "no PostgreSQL server binaries; installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi
if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p $PORT 2>/dev/null; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA" && chown postgres "$DATA"
    su postgres -s /bin/sh -c "$bindir/initdb -D $DATA -U postgres --auth=trust -E UTF8" >&2
  fi
  su postgres -s /bin/sh -c "$bindir/pg_ctl -D $DATA -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1' -l $DATA/log -w start" >&2
fi
"$bindir/pg_isready" -q -h 127.0.0.1 -p $PORT || { log "PostgreSQL did not start"; exit 1; }
echo "postgresql://postgres@127.0.0.1:$PORT/openhsct"
