#!/usr/bin/env bash
# lifeops off-site host: an SSH server in its own network namespace, the
# place off-site copies (backup.offsite, restic over sftp) go in tests and the
# demo. Key-only login (no passwords), its own host keys, which callers pin
# in a known_hosts file this script writes.
#
#   network namespace lofs1, veth lofsh1 10.236.1.1 (host) <-> 10.236.1.2 (sshd)
#   /var/lib/lifeops-offsite/   host keys, authorized_keys, known_hosts (kept across --down)
#   /run/lifeops-offsite/       sshd config and pid file
#   repositories live under /srv/lifeops-offsite (what sftp logins see as their files)
#
#   testbed/offsite-host.sh                   create or repair, then print KEY=VALUE facts
#   testbed/offsite-host.sh --authorize FILE  also allow the public key in FILE to log in (idempotent)
#   testbed/offsite-host.sh --demo            also make (once) and allow the demo stack's key,
#                                             /var/lib/lifeops-offsite/demo_ed25519 (stacks/demo.yaml, env local)
#   testbed/offsite-host.sh --stop            stop sshd only (the host stays: connections are refused)
#   testbed/offsite-host.sh --down            stop sshd, remove namespace and link (keeps keys and data)
# sshd runs under `nsenter --net=...` like the crash bed's dockerd. Only the
# namespace's own address is ever used: nothing here reaches off this machine.
set -euo pipefail

NS=lofs1
LINK=lofsh1
HOST_IP=10.236.1.1
ADDR=10.236.1.2
STATE=/var/lib/lifeops-offsite
RUN=/run/lifeops-offsite
PIDF=$RUN/sshd.pid
CFG=$RUN/sshd_config
DATA=/srv/lifeops-offsite

log() { echo "[offsite-host] $*" >&2; }
fail() { echo "[offsite-host] FAIL: $*" >&2; exit 1; }
sshd_pid() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null && cat "$PIDF"; }

stop_sshd() {
  local pid
  if pid=$(sshd_pid); then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "sshd $pid stopped"
  fi
  rm -f "$PIDF"
}

case "${1:-}" in
  --down)
    stop_sshd
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$LINK" 2>/dev/null || true
    log "down"
    exit 0
    ;;
  --stop)
    stop_sshd
    exit 0
    ;;
esac

[ -x /usr/sbin/sshd ] || fail "/usr/sbin/sshd missing: apt-get install -y openssh-server"
mkdir -p "$STATE" "$RUN" "$DATA" /run/sshd
chmod 700 "$STATE" "$RUN"
chmod 755 /run/sshd

# the network: a namespace with one veth pair; the namespace end answers on $ADDR
[ -e "/var/run/netns/$NS" ] || { ip netns add "$NS"; log "netns $NS created"; }
if ! ip link show "$LINK" >/dev/null 2>&1; then
  ip link add "$LINK" type veth peer name eth0 netns "$NS"
  ip addr add "$HOST_IP/30" dev "$LINK"
  ip netns exec "$NS" ip addr add "$ADDR/30" dev eth0
  log "veth $LINK $HOST_IP <-> $ADDR"
fi
ip link set "$LINK" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set eth0 up

# host keys, made once: the known_hosts file callers pin stays valid across --down
[ -f "$STATE/ssh_host_ed25519_key" ] || { ssh-keygen -q -t ed25519 -N '' -C lifeops-offsite -f "$STATE/ssh_host_ed25519_key"; log "host key made"; }
echo "$ADDR $(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")" > "$STATE/known_hosts"
touch "$STATE/authorized_keys"
chmod 600 "$STATE/authorized_keys"

if [ "${1:-}" = "--demo" ]; then
  [ -f "$STATE/demo_ed25519" ] || { ssh-keygen -q -t ed25519 -N '' -C lifeops-demo -f "$STATE/demo_ed25519"; log "demo key made"; }
  set -- --authorize "$STATE/demo_ed25519.pub"
fi
if [ "${1:-}" = "--authorize" ]; then
  [ -f "${2:-}" ] || fail "--authorize needs a public key file"
  key=$(cut -d' ' -f1,2 "$2")
  grep -qxF "$key" <(cut -d' ' -f1,2 "$STATE/authorized_keys") || { cat "$2" >> "$STATE/authorized_keys"; log "key authorized"; }
fi

cat > "$CFG" <<EOF
ListenAddress $ADDR
Port 22
HostKey $STATE/ssh_host_ed25519_key
PidFile $PIDF
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -t -f "$CFG" || fail "sshd refuses its config $CFG"

if ! sshd_pid >/dev/null; then
  nsenter --net="/var/run/netns/$NS" /usr/sbin/sshd -f "$CFG"
  for _ in $(seq 50); do sshd_pid >/dev/null && break; sleep 0.1; done
  sshd_pid >/dev/null || fail "sshd did not start"
  log "sshd $(sshd_pid) listening on $ADDR:22"
fi

echo "ADDR=$ADDR"
echo "KNOWN_HOSTS=$STATE/known_hosts"
echo "DATA=$DATA"
echo "SSHD_PID=$(sshd_pid)"
