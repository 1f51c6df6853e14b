#!/bin/sh
# Follows the official redis image: `redis-server [conf] [args]`, data in /data,
# runs as user redis, protected mode off unless the config/args set it.
set -e
# first arg is `-f` / `--some-option` or a .conf file
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
  exec gosu redis "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
  shift
  conf=""
  if [ -n "${1:-}" ] && [ "${1#-}" = "$1" ]; then conf="$1"; shift; fi
  extra=""
  # the official image is compiled with protected-mode off; Debian's default is on
  if ! printf '%s\n' "$@" | grep -q -- '--protected-mode' && \
     { [ -z "$conf" ] || ! grep -qE '^[[:space:]]*protected-mode' "$conf" 2>/dev/null; }; then
    extra="--protected-mode no"
  fi
  # (no --bind needed: redis 7's compiled default is `bind * -::*`, listening on all interfaces)
  um="$(umask)"; [ "$um" = '0022' ] && umask 0077
  if [ -n "$conf" ]; then
    # shellcheck disable=SC2086
    set -- redis-server "$conf" $extra "$@"
  else
    # shellcheck disable=SC2086
    set -- redis-server $extra "$@"
  fi
fi
exec "$@"
