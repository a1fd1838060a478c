#!/usr/bin/env bash
# A private PostgreSQL server for Rapport's tests and local use, on 127.0.0.1 only.
# Usage: postgres.sh start|stop|status|url
# Installs Debian's postgresql package when it is missing. Data lives in $RAPPORT_PG_DIR.
set -euo pipefail

PORT=${RAPPORT_PG_PORT:-54329}
DIR=${RAPPORT_PG_DIR:-/tmp/rapport-postgres-$PORT}
USER_NAME=rapport
DATABASES=(rapport rapport_test)

bin_dir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ]; then
    echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres' account.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgresql://$USER_NAME@127.0.0.1:$PORT/${1:-rapport}"; }

running() { [ -f "$DIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

start() {
  if running; then echo "postgres.sh: already running on 127.0.0.1:$PORT" >&2; return; fi
  mkdir -p "$DIR"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$DIR"
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    as_owner "$BIN/initdb" -D "$DIR/data" -U "$USER_NAME" -A trust -E UTF8 --no-locale >/dev/null
  fi
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=on -c max_connections=100" start >/dev/null
  for db in "${DATABASES[@]}"; do
    if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
      as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$db"
    fi
  done
  echo "postgres.sh: PostgreSQL on $(url)" >&2
}

stop() {
  if running; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null; fi
  echo "postgres.sh: stopped" >&2
}

BIN=$(bin_dir)
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on $(url)"; else echo "stopped"; exit 1; fi ;;
  url) url "${2:-rapport}" ;;
  *) echo "usage: $0 start|stop|status|url [database]" >&2; exit 2 ;;
esac
