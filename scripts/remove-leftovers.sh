#!/usr/bin/env bash
# Removes what interrupted test runs left on an engine: containers, volumes and
# networks of lifeops-managed compose projects whose files lived under some
# checkout's .tmp-tests/. Engines keep their data across machine restarts, and
# `restart: unless-stopped` brings such containers back at engine start, where
# they hold the test projects' names and ports (seen: a killed run in another
# clone made the next CI's deploys refuse "dpt-local", managed elsewhere).
# A project is left alone only while its checkout's test run is alive
# (.test-run.pid, written by scripts/test.sh), so two live runs never clash.
#   scripts/remove-leftovers.sh [DOCKER_HOST]   (default: the current engine)
set -uo pipefail
[ -n "${1:-}" ] && export DOCKER_HOST="$1"
docker info >/dev/null 2>&1 || exit 0
self_root=$(cd "$(dirname "$0")/.." && pwd)

run_alive() {  # run_alive CHECKOUT: a test run of that checkout is going on (not this one)
  local pidf="$1/.test-run.pid" pid
  [ "$1" = "$self_root" ] && return 1
  [ -f "$pidf" ] || return 1
  pid=$(cat "$pidf" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

declare -A projects=()
for c in $(docker ps -aq --filter label=lifeops.stack 2>/dev/null); do
  wd=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project.working_dir"}}' "$c" 2>/dev/null) || continue
  case "$wd" in */.tmp-tests/*) ;; *) continue ;; esac
  run_alive "${wd%%/.tmp-tests/*}" && continue
  p=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' "$c" 2>/dev/null) || continue
  docker rm -f "$c" >/dev/null 2>&1 || true
  [ -n "$p" ] && projects[$p]="${wd%%/.tmp-tests/*}"
done
for p in "${!projects[@]}"; do
  docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null 2>&1 || true
  docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
  echo "removed leftover project $p (from ${projects[$p]}) on ${DOCKER_HOST:-the default engine}" >&2
done
exit 0
