#!/usr/bin/env bash
# Redis and PostgreSQL on loopback for the scaled-out tests, with throwaway data folders.
# Sourced by .ci/run (or by hand: `source .ci/services.sh`); exports REDIS_URL and PILOTGATE_TEST_PG.
# Never fatal: when a server cannot be installed or started, the tests marked `scaled` skip and say why.

_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_install_servers() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -n "$(_pg_bin)" ] || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "services: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}

_start_redis() {
  local port dir
  port=$(_free_port)
  dir=$(mktemp -d /tmp/pilotgate-redis.XXXXXX)
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || return 1
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null 2>&1 || return 1
  PILOTGATE_REDIS_DIR=$dir
  export REDIS_URL="redis://127.0.0.1:$port/0"
}

_start_postgres() {
  local bin port dir as_pg=()
  bin=$(_pg_bin)
  [ -n "$bin" ] || return 1
  port=$(_free_port)
  dir=$(mktemp -d /tmp/pilotgate-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
    chown postgres "$dir" && as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 || return 1
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null || return 1
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE DATABASE pilotgate_test" || return 1
  PILOTGATE_PG_DIR=$dir
  PILOTGATE_PG_AS=("${as_pg[@]}")
  PILOTGATE_PG_CTL="$bin/pg_ctl"
  export PILOTGATE_TEST_PG="postgresql://postgres@127.0.0.1:$port/pilotgate_test"
}

pilotgate_services_stop() {
  if [ -n "${PILOTGATE_REDIS_DIR:-}" ] && [ -f "$PILOTGATE_REDIS_DIR/redis.pid" ]; then
    kill "$(cat "$PILOTGATE_REDIS_DIR/redis.pid")" 2>/dev/null
    rm -rf "$PILOTGATE_REDIS_DIR"
  fi
  if [ -n "${PILOTGATE_PG_DIR:-}" ]; then
    "${PILOTGATE_PG_AS[@]}" "$PILOTGATE_PG_CTL" -D "$PILOTGATE_PG_DIR/data" -m fast stop >/dev/null 2>&1
    rm -rf "$PILOTGATE_PG_DIR"
  fi
}

if _install_servers; then
  _start_redis || echo "services: Redis did not start; scaled tests will skip" >&2
  _start_postgres || echo "services: PostgreSQL did not start; scaled tests will skip" >&2
else
  echo "services: could not install Redis/PostgreSQL; scaled tests will skip" >&2
fi
trap pilotgate_services_stop EXIT
echo "services: REDIS_URL=${REDIS_URL:-unset} PILOTGATE_TEST_PG=${PILOTGATE_TEST_PG:-unset}" >&2
