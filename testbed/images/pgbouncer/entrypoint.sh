#!/bin/sh
set -e
INI=/etc/pgbouncer/pgbouncer.ini
USERLIST="${AUTH_FILE:-/etc/pgbouncer/userlist.txt}"

if [ -n "${DATABASE_URL:-}" ]; then
  # postgres://user:pass@host:port/db
  rest="${DATABASE_URL#*://}"; cred="${rest%%@*}"; hostpart="${rest#*@}"
  DB_USER="${cred%%:*}"; [ "$cred" != "$DB_USER" ] && DB_PASSWORD="${cred#*:}"
  hp="${hostpart%%/*}"; DB_NAME="${hostpart#*/}"; DB_NAME="${DB_NAME%%\?*}"
  DB_HOST="${hp%%:*}"; [ "$hp" != "$DB_HOST" ] && DB_PORT="${hp#*:}"
fi

# Like edoburu/pgbouncer: the user from DB_USER/DB_PASSWORD is added to the auth
# file whether or not a pgbouncer.ini was mounted; in plain text for plain and
# scram-sha-256 (pgbouncer needs it to log in to a SCRAM server), else as md5.
if [ -n "${DB_USER:-}" ] && [ -n "${DB_PASSWORD:-}" ] && ! grep -qs "^\"$DB_USER\"" "$USERLIST"; then
  case "${AUTH_TYPE:-md5}" in
    plain|scram-sha-256) secret="$DB_PASSWORD" ;;
    *) secret="md5$(printf '%s%s' "$DB_PASSWORD" "$DB_USER" | md5sum | cut -d' ' -f1)" ;;
  esac
  (umask 077; printf '"%s" "%s"\n' "$DB_USER" "$secret" >> "$USERLIST")
  echo "pgbouncer: added $DB_USER to $USERLIST" >&2
fi

if [ ! -f "$INI" ]; then
  if [ -z "${DB_HOST:-}" ]; then
    echo "pgbouncer: no $INI and no DATABASE_URL/DB_HOST set" >&2; exit 1
  fi
  dbline="* = host=$DB_HOST port=${DB_PORT:-5432}"
  [ -n "${DB_NAME:-}" ] && dbline="${DB_NAME} = host=$DB_HOST port=${DB_PORT:-5432} dbname=$DB_NAME"
  [ -n "${DB_USER:-}" ] && dbline="$dbline user=$DB_USER"
  cat > "$INI" <<INI
[databases]
$dbline

[pgbouncer]
listen_addr = ${LISTEN_ADDR:-0.0.0.0}
listen_port = ${LISTEN_PORT:-5432}
unix_socket_dir = /var/run/pgbouncer
auth_file = $USERLIST
auth_type = ${AUTH_TYPE:-md5}
pool_mode = ${POOL_MODE:-session}
max_client_conn = ${MAX_CLIENT_CONN:-100}
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-extra_float_digits}
admin_users = ${ADMIN_USERS:-postgres}
stats_users = ${STATS_USERS:-}
INI
  echo "pgbouncer: wrote $INI for $DB_HOST:${DB_PORT:-5432}" >&2
fi
case "${1:-}" in -*) set -- pgbouncer "$@" "$INI" ;; esac
exec "$@"
