#!/usr/bin/env bash
# Follows the official postgres image's contract: POSTGRES_USER, POSTGRES_PASSWORD(_FILE),
# POSTGRES_DB, POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, /docker-entrypoint-initdb.d.
set -Eeo pipefail

file_env() {  # file_env VAR [default]: VAR or VAR_FILE
  local var="$1" fileVar="${1}_FILE" def="${2:-}"
  local val="$def"
  if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
    echo >&2 "error: both $var and $fileVar are set (but are exclusive)"; exit 1
  fi
  if [ "${!var:-}" ]; then val="${!var}"; elif [ "${!fileVar:-}" ]; then val="$(< "${!fileVar}")"; fi
  export "$var"="$val"; unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"; chmod 2777 /var/run/postgresql
  exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ "$1" = 'postgres' ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
      cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (or POSTGRES_HOST_AUTH_METHOD=trust, not recommended)
MSG
      exit 1
    fi
    echo "lifeops/postgres: initialising database in $PGDATA"
    pwfile="$(mktemp)"; printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
      --auth-host="$POSTGRES_HOST_AUTH_METHOD" -D "$PGDATA" $POSTGRES_INITDB_ARGS >/dev/null
    rm -f "$pwfile"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

    # temporary server on the socket only
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
    export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
    psql=( psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc )
    if [ "$POSTGRES_DB" != 'postgres' ]; then
      exists="$("${psql[@]}" --dbname postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${POSTGRES_DB//\'/\'\'}'")"
      [ -n "$exists" ] || "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;' >/dev/null
    fi
    psql+=( --dbname "$POSTGRES_DB" )
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) if [ -x "$f" ]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
        *.sql) echo "running $f"; "${psql[@]}" -f "$f" >/dev/null ;;
        *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" >/dev/null ;;
        *) echo "ignoring $f" ;;
      esac
    done
    shopt -u nullglob
    unset PGPASSWORD
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "lifeops/postgres: init process complete; ready for start up."
  else
    echo "lifeops/postgres: database directory appears to contain a database; skipping initialization"
  fi
fi

exec "$@"
