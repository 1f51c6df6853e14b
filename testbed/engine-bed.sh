#!/usr/bin/env bash
# lifeops crash bed: a private Docker engine that a test may restart or kill
# (issue 14: "the engine restarted during a deploy") without touching the main
# engine at /var/run/docker.sock, which the other test files share.
#
#   network namespace lcr1 + its own dockerd (data root, exec root, pidfile,
#   socket, containerd namespace under /var/lib/lifeops-crashbed and
#   /run/lifeops-crashbed), bridge 172.30.1.1/24, networks from 10.235.0.0/16
#   host <-> engine   veth lcrh1 10.234.1.1 <-> 10.234.1.2 (the host reaches
#                     ports the engine publishes on 0.0.0.0 at 10.234.1.2)
# Not in swarm mode. The images the demo stack needs are loaded from the main
# engine (no registry).
#
# containerd: dockerd 20.10 starts its own (under the exec root, in this
# namespace) because no system containerd listens on /run/containerd; it is
# dockerd's child and dies with it. The containers' shims outlive both.
# What a restart does to running containers (checked here with `--restart`
# and `--restart --kill`; live-restore is off, as by default):
#   SIGTERM: dockerd stops every container (SIGTERM, SIGKILL after its stop
#            timeout) before it exits; on start it starts again those with a
#            restart policy (always, unless-stopped), the others stay exited.
#   SIGKILL: the containers keep running until dockerd is back; at start it
#            finds them running without live-restore, kills them, then starts
#            again those with a restart policy (as after SIGTERM).
#
#   testbed/engine-bed.sh                   create or repair, then print KEY=VALUE facts
#   testbed/engine-bed.sh --restart [--kill] restart that dockerd (SIGTERM, or SIGKILL), wait until it answers
#   testbed/engine-bed.sh --down            stop the engine, remove namespace and link (keeps the data root)
#   testbed/engine-bed.sh --purge           --down and remove the data root too
# dockerd runs under `nsenter --net=...`, not `ip netns exec`: the latter
# remounts /sys and hides the cgroups from dockerd.
set -euo pipefail

NS=lcr1
LINK=lcrh1
HOST_IP=10.234.1.1
ADDR=10.234.1.2
STATE=/var/lib/lifeops-crashbed
RUN=/run/lifeops-crashbed
SOCK=$RUN/docker.sock
PIDF=$RUN/docker.pid
# the demo stack's images (stacks/demo.yaml `images:`), and the app's base (demo/app/Dockerfile)
IMAGES="lifeops/postgres:15 lifeops/redis:7 lifeops/nginx:local lifeops/python:local"

T0=$(date +%s%N)
log() { echo "[crash-bed $(( ($(date +%s%N) - T0) / 1000000 ))ms] $*" >&2; }
fail() { echo "[crash-bed] FAIL: $*" >&2; exit 1; }
dk() { docker -H "unix://$SOCK" "$@"; }
engine_up() { [ -S "$SOCK" ] && dk info >/dev/null 2>&1; }
dockerd_pid() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null && cat "$PIDF"; }

print_env() {
  echo "DOCKER_HOST=unix://$SOCK"
  echo "ADDR=$ADDR"
  echo "DOCKERD_PID=$(dockerd_pid || echo none)"
}

start_engine() {
  mkdir -p "$STATE/data" "$RUN/exec"
  if dockerd_pid >/dev/null; then
    log "dockerd runs but does not answer yet"
  else
    rm -f "$PIDF" "$SOCK"
    # setsid: the engine outlives this script and the caller's process group
    setsid nsenter --net="/var/run/netns/$NS" unshare --uts -- sh -c "hostname $NS && exec dockerd \"\$@\"" dockerd \
      --data-root "$STATE/data" --exec-root "$RUN/exec" \
      --pidfile "$PIDF" -H "unix://$SOCK" \
      --containerd-namespace lifeops-crashbed --containerd-plugins-namespace lifeops-crashbed-plugins \
      --bip 172.30.1.1/24 --default-address-pool base=10.235.0.0/16,size=24 \
      --log-level warn >>"$STATE/dockerd.log" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 240); do engine_up && return 0; sleep 0.25; done
  tail -20 "$STATE/dockerd.log" >&2
  fail "dockerd did not come up in 60 s (log: $STATE/dockerd.log)"
}

stop_engine() { # $1: signal
  local pid
  pid=$(dockerd_pid) || return 0
  log "sending SIG$1 to dockerd (pid $pid)"
  kill -"$1" "$pid"
  # SIGTERM: dockerd stops the containers first (their grace periods; 15 s shutdown timeout by default)
  for _ in $(seq 1 480); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  fail "dockerd (pid $pid) still runs 120 s after SIG$1"
}

down() {
  stop_engine TERM
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$LINK" 2>/dev/null || true
}

case "${1:-}" in
  --down) down; exit 0 ;;
  --purge) down; rm -rf "$STATE" "$RUN"; exit 0 ;;
  --restart)
    engine_up || fail "the crash bed's engine is not up: run testbed/engine-bed.sh first"
    sig=TERM; [ "${2:-}" = --kill ] && sig=KILL
    stop_engine "$sig"
    log "dockerd gone; starting it again"
    start_engine
    log "engine answers again"
    print_env; exit 0 ;;
  "") ;;
  *) echo "engine-bed.sh: unknown argument: $1" >&2; exit 2 ;;
esac

command -v docker >/dev/null || fail "docker is missing: run testbed/setup.sh first"
docker info >/dev/null 2>&1 || fail "the main engine is not running: run testbed/setup.sh first"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"

# ------------------------------------------------------------- namespace and link
[ -e "/var/run/netns/$NS" ] || { ip netns add "$NS"; log "netns $NS created"; }
ip -n "$NS" link set lo up
if ! ip link show "$LINK" >/dev/null 2>&1; then
  ip -n "$NS" link del eth0 2>/dev/null || true
  ip link add "$LINK" type veth peer name eth0 netns "$NS"
  ip addr add "$HOST_IP/30" dev "$LINK"
  ip -n "$NS" addr add "$ADDR/30" dev eth0
  log "veth host <-> engine: $HOST_IP <-> $ADDR"
fi
ip link set "$LINK" up
ip -n "$NS" link set eth0 up

# ------------------------------------------------------------- engine
engine_up || { log "starting dockerd"; start_engine; log "engine up"; }
[ "$(dk info --format '{{.Swarm.LocalNodeState}}')" = inactive ] || fail "the crash bed's engine is in a swarm"
# its data root outlives machine restarts: drop what interrupted test runs left
bash "$(dirname "$0")/../scripts/remove-leftovers.sh" "unix://$SOCK"

# ------------------------------------------------------------- images
for img in $IMAGES; do
  docker image inspect "$img" >/dev/null 2>&1 || fail "image $img is missing on the main engine: run testbed/setup.sh"
done
missing=""
for img in $IMAGES; do
  want=$(docker image inspect -f '{{.Id}}' "$img")
  have=$(dk image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
  [ "$want" = "$have" ] || missing="$missing $img"
done
if [ -n "$missing" ]; then
  log "loading:$missing"
  # shellcheck disable=SC2086
  docker save $missing | dk load -q >/dev/null
fi

log "ready"
print_env
