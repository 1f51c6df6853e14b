#!/bin/sh
# Translate prometheuscommunity/pgbouncer-exporter's flags into Debian's exporter's.
set -e
conn="${PGBOUNCER_EXPORTER_CONNECTION_STRING:-}" listen=":9127"
for a in "$@"; do
  case "$a" in
    --pgBouncer.connectionString=*) conn="${a#*=}" ;;
    --web.listen-address=*) listen="${a#*=}" ;;
  esac
done
[ -n "$conn" ] || { echo "pgbouncer-exporter: no --pgBouncer.connectionString" >&2; exit 2; }
rest="${conn#*://}"; cred="${rest%%@*}"; hostpart="${rest#*@}"; hp="${hostpart%%/*}"
# the password is decoded from the environment, never passed as an argument (argv is visible in ps)
user="${cred%%:*}"; [ "$cred" != "$user" ] && export PGPASSWORD="$(ENCODED_PASSWORD="${cred#*:}" python3 -c 'import os,urllib.parse;print(urllib.parse.unquote(os.environ["ENCODED_PASSWORD"]))')"
host="${hp%%:*}"; port=6432; [ "$hp" != "$host" ] && port="${hp#*:}"
# Debian's exporter (through compat.py) connects with psycopg2 (libpq reads PGPASSWORD) to the admin database "pgbouncer"
exec python3 /compat.py --host 0.0.0.0 --port "${listen##*:}" \
  --pgbouncer-host "$host" --pgbouncer-port "$port" --pgbouncer-user "$user"
