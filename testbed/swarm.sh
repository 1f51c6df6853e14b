#!/usr/bin/env bash
# lifeops swarm test bed: a real two-node Docker Swarm on this one machine,
# without touching the main engine (/var/run/docker.sock stays out of any swarm:
# swarm init/leave on it would detach the compose stacks running there).
#
#   node N = network namespace lswN + its own dockerd (data root, exec root,
#            pidfile, socket under /var/lib/lifeops-swarm and /run/lifeops-swarm)
#   host  <-> node1   veth lswh1 10.231.1.1 <-> 10.231.1.2 (host reaches node1's host-mode ports)
#   host  <-> node2   veth lswh2 10.231.2.1 <-> 10.231.2.2
#   node1 <-> node2   veth lswl1/lswl2 10.231.0.1 <-> 10.231.0.2 (swarm control + VXLAN data)
#
# Node 1 is the manager (labels lifeops.role=data), node 2 a worker
# (lifeops.role=app). The local images are loaded into each node's engine
# (there is no registry). Idempotent: quick when everything is in place.
#   testbed/swarm.sh           create or repair, then print the bed's facts
#   testbed/swarm.sh --down    stop both engines, remove namespaces and links (keeps data roots)
#   testbed/swarm.sh --purge   --down and remove the data roots too
#   testbed/swarm.sh --env     print the bed's facts only (KEY=VALUE lines), exit 1 if not up
# dockerd runs under `nsenter --net=...`, not `ip netns exec`: the latter
# remounts /sys and hides the cgroups from dockerd.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
NODES=2
STATE=/var/lib/lifeops-swarm
RUN=/run/lifeops-swarm
IMAGES="lifeops/postgres:15 lifeops/redis:7 lifeops/nginx:local lifeops/demo-app:sw1 lifeops/demo-app:sw2"

T0=$(date +%s)
log() { echo "[swarm-bed $(( $(date +%s) - T0 ))s] $*" >&2; }
fail() { echo "[swarm-bed] FAIL: $*" >&2; exit 1; }

sock() { echo "$RUN/n$1/docker.sock"; }
dk() { local n=$1; shift; docker -H "unix://$(sock "$n")" "$@"; }
node_ip() { echo "10.231.0.$1"; }      # the address swarm traffic uses
host_ip() { echo "10.231.$1.2"; }      # the address the host reaches the node on

print_env() {
  echo "SWARM_NODES=$NODES"
  for n in $(seq 1 $NODES); do
    echo "SWARM_NODE${n}_HOST=unix://$(sock "$n")"
    echo "SWARM_NODE${n}_ADDR=$(host_ip "$n")"
  done
  echo "SWARM_MANAGER_HOST=unix://$(sock 1)"
}

engine_up() { [ -S "$(sock "$1")" ] && dk "$1" info >/dev/null 2>&1; }

down() {
  for n in $(seq 1 $NODES); do
    local pidf="$RUN/n$n/docker.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
      local pid; pid=$(cat "$pidf")
      log "stopping dockerd of node $n (pid $pid)"
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    ip netns del "lsw$n" 2>/dev/null || true
    ip link del "lswh$n" 2>/dev/null || true
  done
}

case "${1:-}" in
  --down) down; exit 0 ;;
  --purge) down; rm -rf "$STATE" "$RUN"; exit 0 ;;
  --env)
    for n in $(seq 1 $NODES); do engine_up "$n" || exit 1; done
    print_env; exit 0 ;;
  "") ;;
  *) echo "swarm.sh: unknown argument: $1" >&2; exit 2 ;;
esac

command -v docker >/dev/null || fail "docker is missing: run testbed/setup.sh first"
docker info >/dev/null 2>&1 || fail "the main engine is not running: run testbed/setup.sh first"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"

# ------------------------------------------------------------- namespaces and links
for n in $(seq 1 $NODES); do
  [ -e "/var/run/netns/lsw$n" ] || { ip netns add "lsw$n"; log "netns lsw$n created"; }
  ip -n "lsw$n" link set lo up
  if ! ip link show "lswh$n" >/dev/null 2>&1; then
    ip link add "lswh$n" type veth peer name eth0 netns "lsw$n"
    ip addr add "10.231.$n.1/30" dev "lswh$n"
    ip -n "lsw$n" addr add "$(host_ip "$n")/30" dev eth0
    log "veth host <-> node $n: 10.231.$n.1 <-> $(host_ip "$n")"
  fi
  ip link set "lswh$n" up
  ip -n "lsw$n" link set eth0 up
done
if ! ip -n lsw1 link show lswl1 >/dev/null 2>&1; then
  ip -n lsw2 link del lswl2 2>/dev/null || true
  ip link add lswl1 netns lsw1 type veth peer name lswl2 netns lsw2
  ip -n lsw1 addr add "$(node_ip 1)/24" dev lswl1
  ip -n lsw2 addr add "$(node_ip 2)/24" dev lswl2
  log "veth node 1 <-> node 2: $(node_ip 1) <-> $(node_ip 2)"
fi
ip -n lsw1 link set lswl1 up
ip -n lsw2 link set lswl2 up

# ------------------------------------------------------------- engines
for n in $(seq 1 $NODES); do
  engine_up "$n" && continue
  mkdir -p "$STATE/n$n/data" "$RUN/n$n/exec"
  pidf="$RUN/n$n/docker.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    log "dockerd of node $n runs but does not answer yet"
  else
    rm -f "$pidf" "$(sock "$n")"
    log "starting dockerd of node $n"
    # setsid: the engine outlives this script and the caller's process group
    setsid nsenter --net="/var/run/netns/lsw$n" unshare --uts -- sh -c "hostname lsw$n && exec dockerd \"\$@\"" dockerd \
      --data-root "$STATE/n$n/data" --exec-root "$RUN/n$n/exec" \
      --pidfile "$pidf" -H "unix://$(sock "$n")" \
      --containerd-namespace "lifeops-sw$n" --containerd-plugins-namespace "lifeops-sw$n-plugins" \
      --bip 172.29.$n.1/24 --default-address-pool base=10.232.0.0/16,size=24 \
      --log-level warn >"$STATE/n$n/dockerd.log" 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 120); do engine_up "$n" && break; sleep 0.5; done
  engine_up "$n" || { tail -20 "$STATE/n$n/dockerd.log" >&2; fail "dockerd of node $n did not come up (log: $STATE/n$n/dockerd.log)"; }
  log "node $n engine up"
done

# ------------------------------------------------------------- swarm
state1=$(dk 1 info --format '{{.Swarm.LocalNodeState}}/{{.Swarm.ControlAvailable}}')
if [ "$state1" != "active/true" ]; then
  [ "${state1%/*}" = inactive ] || dk 1 swarm leave --force >/dev/null 2>&1 || true
  log "swarm init on node 1 (advertise $(node_ip 1))"
  dk 1 swarm init --advertise-addr "$(node_ip 1)" --listen-addr "$(node_ip 1):2377" \
    --default-addr-pool 10.233.0.0/16 >/dev/null
fi
cluster=$(dk 1 info --format '{{.Swarm.Cluster.ID}}')
for n in $(seq 2 $NODES); do
  st=$(dk "$n" info --format '{{.Swarm.LocalNodeState}}')
  if [ "$st" = active ]; then
    nid=$(dk "$n" info --format '{{.Swarm.NodeID}}')
    dk 1 node inspect "$nid" >/dev/null 2>&1 && continue
  fi
  [ "$st" = inactive ] || dk "$n" swarm leave --force >/dev/null 2>&1 || true
  token=$(dk 1 swarm join-token -q worker)
  log "node $n joins the swarm"
  dk "$n" swarm join --advertise-addr "$(node_ip "$n")" --listen-addr "$(node_ip "$n"):2377" \
    --token "$token" "$(node_ip 1):2377" >/dev/null
done
# forget nodes that left (an earlier bed's node ids stay listed as down)
for id in $(dk 1 node ls --format '{{.ID}} {{.Status}}' | awk '$2=="Down"{print $1}'); do
  dk 1 node rm --force "$id" >/dev/null 2>&1 || true
done
for n in $(seq 1 $NODES); do
  nid=$(dk "$n" info --format '{{.Swarm.NodeID}}')
  for _ in $(seq 1 60); do
    [ "$(dk 1 node inspect "$nid" --format '{{.Status.State}}')" = ready ] && break; sleep 0.5
  done
  role=app; [ "$n" = 1 ] && role=data
  cur=$(dk 1 node inspect "$nid" --format '{{index .Spec.Labels "lifeops.role"}}')
  [ "$cur" = "$role" ] || dk 1 node update --label-add "lifeops.role=$role" "$nid" >/dev/null
done

# ------------------------------------------------------------- images
# Two demo app versions for the version change (the same Dockerfile, APP_VERSION differs).
export DOCKER_BUILDKIT=0
for v in sw1 sw2; do
  if ! docker image inspect "lifeops/demo-app:$v" >/dev/null 2>&1 \
     || [ "$(docker image inspect -f '{{.Created}}' lifeops/python:local)" \> "$(docker image inspect -f '{{.Created}}' "lifeops/demo-app:$v")" ]; then
    log "building lifeops/demo-app:$v"
    docker build -q --build-arg "APP_VERSION=$v" -t "lifeops/demo-app:$v" "$ROOT/demo/app" >/dev/null
  fi
done
for img in $IMAGES; do
  docker image inspect "$img" >/dev/null 2>&1 || fail "image $img is missing on the main engine: run testbed/setup.sh"
done
for n in $(seq 1 $NODES); do
  missing=""
  for img in $IMAGES; do
    want=$(docker image inspect -f '{{.Id}}' "$img")
    have=$(dk "$n" image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
    [ "$want" = "$have" ] || missing="$missing $img"
  done
  if [ -n "$missing" ]; then
    log "loading into node $n:$missing"
    # shellcheck disable=SC2086
    docker save $missing | dk "$n" load -q >/dev/null
  fi
done

log "ready: $NODES nodes ($(dk 1 node ls --format '{{.Hostname}}:{{.Status}}:{{.ManagerStatus}}' | tr '\n' ' '))"
print_env
