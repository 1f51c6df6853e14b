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
user="${cred%%:*}"; [ "$cred" != "$user" ] && export PGPASSWORD="$(python3 -c 'import sys,urllib.parse;print(urllib.parse.unquote(sys.argv[1]))' "${cred#*:}")"
host="${hp%%:*}"; port=6432; [ "$hp" != "$host" ] && port="${hp#*:}"
cfg=/tmp/pgbouncer-exporter.yml
printf 'exporter_host: 0.0.0.0\nexporter_port: %s\npgbouncers:\n  - dsn: postgresql://%s@%s:%s/pgbouncer\n    connect_timeout: 5\n' "${listen##*:}" "$user" "$host" "$port" > "$cfg"
exec /usr/bin/prometheus-pgbouncer-exporter --config "$cfg"
