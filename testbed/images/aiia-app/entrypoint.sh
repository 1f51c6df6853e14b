#!/bin/sh
# Apply Django migrations (retrying while PgBouncer/Postgres start), then run the command.
set -e
if [ "${DJANGO_MIGRATE_ON_START:-1}" = 1 ]; then
  i=0
  until python3 /app/manage.py migrate --noinput; do
    i=$((i + 1)); [ "$i" -lt 20 ] || { echo "entrypoint: migrate failed 20 times" >&2; exit 1; }
    sleep 2
  done
fi
exec "$@"
