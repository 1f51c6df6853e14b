#!/usr/bin/env bash
# lifeops remote host: a "server" that lifeops reaches only over SSH (issue 26).
# One process tree in its own network AND mount namespace:
#   - network namespace lrm1, veth lrmh1 10.238.1.1 (operator) <-> 10.238.1.2 (server)
#   - a private mount namespace: a fresh /run (so the server's dockerd listens on
#     the usual /var/run/docker.sock without touching the main engine's) and
#     /srv bound from /var/lib/lifeops-remote/srv (the server's state root,
#     /srv/lifeops; the operator side has no such folder, so nothing can pass by
#     reading the server's files through the shared disk)
#   - its own dockerd (data root /var/lib/lifeops-remote/docker), the demo images loaded
#   - Debian's sshd: key-only root login, its own host key, a log that counts connections
#
#   testbed/remote-host.sh                 create or repair, then print KEY=VALUE facts
#   testbed/remote-host.sh --authorize F   also allow the public key in file F to log in
#   testbed/remote-host.sh --down          stop it all, remove namespace and link (keeps keys and data)
#   testbed/remote-host.sh --in CMD...     run CMD inside the server (its network, mounts and engine)
# Only the namespace's own address is ever used: nothing here reaches off this machine.
set -euo pipefail

NS=lrm1
LINK=lrmh1
HOST_IP=10.238.1.1
ADDR=10.238.1.2
STATE=/var/lib/lifeops-remote
PIDS=$STATE/pids          # the server's /run is private: its pid files live here
SRV=$STATE/srv            # seen as /srv inside the server
IMAGES="lifeops/postgres:15 lifeops/redis:7 lifeops/nginx:local lifeops/python:local"

log() { echo "[remote-host] $*" >&2; }
fail() { echo "[remote-host] FAIL: $*" >&2; exit 1; }
alive() { [ -f "$PIDS/$1" ] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }
# run inside the server's namespaces (those of its init shell)
inside() { nsenter --target "$(cat "$PIDS/init")" --mount --net --uts -- "$@"; }
dk() { inside docker "$@"; }

down() {
  for p in sshd dockerd init; do
    if alive "$p"; then kill "$(cat "$PIDS/$p")" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 200); do alive dockerd || alive init || break; sleep 0.1; done
  rm -f "$PIDS"/*
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$LINK" 2>/dev/null || true
}

case "${1:-}" in
  --down) down; log "down"; exit 0 ;;
  --in) shift; alive init || fail "the server is not up: run testbed/remote-host.sh"; inside "$@"; exit $? ;;
esac

[ -x /usr/sbin/sshd ] || fail "/usr/sbin/sshd missing: apt-get install -y openssh-server"
command -v docker >/dev/null || fail "docker is missing: run testbed/setup.sh first"
docker info >/dev/null 2>&1 || fail "the main engine is not running: run testbed/setup.sh first"
mkdir -p "$STATE" "$PIDS" "$SRV/lifeops" "$STATE/docker"
chmod 700 "$STATE" "$PIDS"

# ------------------------------------------------------------- network
[ -e "/var/run/netns/$NS" ] || { ip netns add "$NS"; log "netns $NS created"; }
if ! ip link show "$LINK" >/dev/null 2>&1; then
  ip -n "$NS" link del eth0 2>/dev/null || true
  ip link add "$LINK" type veth peer name eth0 netns "$NS"
  ip addr add "$HOST_IP/30" dev "$LINK"
  ip -n "$NS" addr add "$ADDR/30" dev eth0
  log "veth $LINK $HOST_IP <-> $ADDR"
fi
ip link set "$LINK" up
ip -n "$NS" link set lo up
ip -n "$NS" link set eth0 up

# ------------------------------------------------------------- keys
[ -f "$STATE/ssh_host_ed25519_key" ] || { ssh-keygen -q -t ed25519 -N '' -C lifeops-remote-host -f "$STATE/ssh_host_ed25519_key"; log "host key made"; }
touch "$STATE/authorized_keys"; chmod 600 "$STATE/authorized_keys"
if [ "${1:-}" = --authorize ]; then
  [ -f "${2:-}" ] || fail "--authorize needs a public key file"
  key=$(cut -d' ' -f1,2 "$2")
  grep -qxF "$key" <(cut -d' ' -f1,2 "$STATE/authorized_keys") || { cat "$2" >> "$STATE/authorized_keys"; log "key authorized"; }
fi
cat > "$STATE/sshd_config" <<EOF
ListenAddress $ADDR
Port 22
HostKey $STATE/ssh_host_ed25519_key
PidFile $PIDS/sshd
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
# a client gone without a word (a cut link) is noticed in ~15 s: its session, and the lock it held, end
ClientAliveInterval 5
ClientAliveCountMax 3
EOF
/usr/sbin/sshd -t -f "$STATE/sshd_config" || fail "sshd refuses its config"
# a running sshd re-reads its config (new connections get it; open sessions are kept)
if alive sshd; then kill -HUP "$(cat "$PIDS/sshd")"; fi

# ------------------------------------------------------------- the server's process tree
if ! alive init; then
  rm -f "$PIDS"/*
  # init: a shell in new mount and uts namespaces (inside the network one) that
  # prepares the private mounts, starts dockerd and sshd, then waits on them
  cat > "$STATE/init.sh" <<EOF
set -e
hostname $NS
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/docker-exec
mount --bind $SRV /srv
echo \$\$ > $PIDS/init
dockerd --data-root $STATE/docker --exec-root /run/docker-exec --pidfile /run/docker.pid \
  -H unix:///var/run/docker.sock --containerd-namespace lifeops-remote --containerd-plugins-namespace lifeops-remote-plugins \
  --bip 172.28.1.1/24 --default-address-pool base=10.239.0.0/16,size=24 --log-level warn >>$STATE/dockerd.log 2>&1 &
echo \$! > $PIDS/dockerd
/usr/sbin/sshd -f $STATE/sshd_config -E $STATE/sshd.log
wait
EOF
  setsid nsenter --net="/var/run/netns/$NS" unshare --mount --uts -- sh "$STATE/init.sh" </dev/null >>"$STATE/init.log" 2>&1 &
  for _ in $(seq 1 100); do alive init && break; sleep 0.1; done
  alive init || { tail -5 "$STATE/init.log" >&2; fail "the server's init did not start"; }
  log "server started (init $(cat "$PIDS/init"))"
fi
for _ in $(seq 1 240); do dk info >/dev/null 2>&1 && break; sleep 0.25; done
dk info >/dev/null 2>&1 || { tail -20 "$STATE/dockerd.log" >&2; fail "the server's dockerd did not answer in 60 s"; }
for _ in $(seq 1 50); do alive sshd && break; sleep 0.1; done
alive sshd || { tail -5 "$STATE/sshd.log" >&2; fail "sshd did not start"; }
# the operator's side sees none of the server's files
[ ! -e /srv/lifeops ] || log "warning: /srv/lifeops exists on the operator side: tests cannot tell the two apart there"

# ------------------------------------------------------------- images (no registry)
missing=""
for img in $IMAGES; do
  want=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || fail "image $img is missing on the main engine: run testbed/setup.sh"
  have=$(dk image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
  [ "$want" = "$have" ] || missing="$missing $img"
done
if [ -n "$missing" ]; then
  log "loading:$missing"
  # shellcheck disable=SC2086
  docker save $missing | dk load -q >/dev/null
fi

echo "ADDR=$ADDR"
echo "HOST_KEY_LINE=$ADDR $(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")"
echo "SSHD_LOG=$STATE/sshd.log"
echo "SERVER_ROOT=/srv/lifeops"
