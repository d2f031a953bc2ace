# Start a throwaway PostgreSQL cluster on 127.0.0.1 and export TUNER_TEST_POSTGRES_URL for the tests.
# Sourced by .ci/run; usable by hand too:  source .ci/postgres.sh && start_postgres
# PostgreSQL refuses to run as root, so as root every server command runs as the postgres user.
# TCP logins need a password (scram-sha-256), so a wrong password really fails; the admin work
# goes through the Unix socket in $dir, where the postgres superuser is trusted.

_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

start_postgres() {
  local port=${TUNER_PG_PORT:-55432}
  local dir=${TUNER_PG_DIR:-/tmp/tuner-pg}
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -z "$bin" ]; then
    echo "start_postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2
    return 1
  fi
  if ! _pg_as_owner "$bin/pg_ctl -D $dir/data status" >/dev/null 2>&1; then
    if [ ! -f "$dir/data/PG_VERSION" ]; then  # a stopped cluster is restarted, not wiped
      rm -rf "$dir" && mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
      _pg_as_owner "$bin/initdb -D $dir/data -U postgres --auth-local=trust \
        --auth-host=scram-sha-256" >/dev/null || return 1
    fi
    _pg_as_owner "$bin/pg_ctl -D $dir/data -l $dir/log -w -o \
      '-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200' start" \
      >/dev/null || { cat "$dir/log" >&2; return 1; }
  fi
  local psql="psql -X -q -h $dir -p $port -U postgres -d postgres"
  $psql -tc "SELECT 1 FROM pg_roles WHERE rolname='tuner'" | grep -q 1 \
    || $psql -c "CREATE ROLE tuner LOGIN PASSWORD 'tuner-secret' CREATEDB" || return 1
  TUNER_TEST_POSTGRES_URL="postgresql+psycopg://tuner:tuner-secret@127.0.0.1:$port/postgres"
  export TUNER_TEST_POSTGRES_URL
}

stop_postgres() {
  local dir=${TUNER_PG_DIR:-/tmp/tuner-pg}
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  _pg_as_owner "$bin/pg_ctl -D $dir/data -m fast stop" >/dev/null
}

restart_postgres() {
  # Stop the throwaway server, wait `$1` seconds (default 1), start it again (tests use this to
  # check that workers ride out a database restart).
  stop_postgres && sleep "${1:-1}" && start_postgres
}
