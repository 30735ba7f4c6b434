#!/usr/bin/env bash
# Start (or stop) a throw-away PostgreSQL server for the tests: its own data directory, loopback only.
#   scripts/postgres.sh start   prints the DATABASE_URL to use
#   scripts/postgres.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
PGPORT=${FENCELINE_TEST_PGPORT:-54329}
DATA=${FENCELINE_TEST_PGDATA:-/tmp/fenceline-pg-$PGPORT}
BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
# PostgreSQL refuses to run as root: run it as the 'postgres' system user when we are root.
if [[ $(id -u) -eq 0 ]]; then as=(runuser -u postgres --); else as=(); fi

case "${1:-start}" in
start)
  if ! "${as[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    rm -rf "$DATA"; mkdir -p "$DATA"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$DATA"
    "${as[@]}" "$BIN/initdb" -D "$DATA" -U fenceline --auth=trust -E UTF8 >/dev/null
    "${as[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $DATA -c fsync=off -c max_connections=100" start >/dev/null
  fi
  "${as[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U fenceline fenceline 2>/dev/null || true
  echo "postgres://fenceline@127.0.0.1:$PGPORT/fenceline"
  ;;
stop)
  "${as[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  ;;
restart)
  "${as[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w restart >/dev/null
  ;;
esac
