#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the server's tests, on 127.0.0.1 only.
#
#   eval "$(scripts/postgres.sh start)"   # installs Debian's postgresql if missing, starts a
#                                         # cluster in a temporary directory and prints
#                                         # `export PALISADE_TEST_POSTGRES_URL=postgres://...`
#                                         # and `export PALISADE_TEST_POSTGRES_DIR=...`
#   scripts/postgres.sh stop              # stops that cluster and deletes its directory
#                                         # (reads PALISADE_TEST_POSTGRES_DIR)
#
# initdb refuses to run as root: as root the cluster belongs to the `postgres` system user
# (Debian's package creates it), otherwise to the calling user. Nothing outside the temporary
# directory is touched; the cluster accepts only local connections (trust, loopback).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"

bindir() {
  local d
  d=$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -n1)
  [ -n "$d" ] || { echo "error: no PostgreSQL under /usr/lib/postgresql" >&2; return 1; }
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  need_postgres >&2
  local bin dir port
  bin=$(bindir)
  dir=$(mktemp -d /tmp/palisade-pg.XXXXXX)
  chmod 0755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U palisade --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  port=$(free_port)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
    start >&2 || { cat "$dir/server.log" >&2; return 1; }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U palisade palisade >&2
  echo "export PALISADE_TEST_POSTGRES_URL=postgres://palisade@127.0.0.1:$port/palisade"
  echo "export PALISADE_TEST_POSTGRES_DIR=$dir"
}

stop() {
  local dir=${PALISADE_TEST_POSTGRES_DIR:-}
  [ -n "$dir" ] && [ -d "$dir/data" ] || { echo "no cluster to stop (PALISADE_TEST_POSTGRES_DIR is unset or gone)" >&2; return 0; }
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
