# Start a throwaway PostgreSQL cluster on 127.0.0.1 as the postgres user (it refuses root) and
# export TUNER_TEST_POSTGRES_URL for the tests. Sourced by .ci/run; usable by hand too.
start_postgres() {
  local port=${TUNER_PG_PORT:-55432}
  local dir=/tmp/tuner-pg
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if ! su postgres -c "$bin/pg_ctl -D $dir status" >/dev/null 2>&1; then
    rm -rf "$dir" && mkdir -p "$dir" && chown postgres:postgres "$dir"
    su postgres -c "$bin/initdb -D $dir -A trust -U postgres" >/dev/null
    su postgres -c "$bin/pg_ctl -D $dir -l $dir/log -w -o '-c listen_addresses=127.0.0.1 -p $port -k /tmp -c max_connections=200' start" >/dev/null
  fi
  psql -h 127.0.0.1 -p "$port" -U postgres -tc "SELECT 1 FROM pg_roles WHERE rolname='tuner'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$port" -U postgres -c "CREATE ROLE tuner LOGIN PASSWORD 'tuner-secret' CREATEDB" >/dev/null
  TUNER_TEST_POSTGRES_URL="postgresql+psycopg://tuner:tuner-secret@127.0.0.1:$port/postgres"
  export TUNER_TEST_POSTGRES_URL
}
