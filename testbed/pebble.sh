#!/usr/bin/env bash
# lifeops ACME test CA: Debian's pebble (Let's Encrypt's test server) and its
# mock DNS (pebble-challtestsrv), which answers every name with 127.0.0.1, so
# HTTP-01 validation of any test domain reaches the front's port published on
# the loopback. Nothing leaves this machine.
#
#   testbed/pebble.sh start   start or keep (idempotent; restarted when its config changed), print KEY=VALUE facts
#   testbed/pebble.sh stop    stop both (a CA that is down: renewals are refused)
#
# Environment (each instance keeps its own folder, so tests can run their own):
#   PEBBLE_HTTP_PORT  port HTTP-01 validation connects to (the front's published HTTP port); required for start
#   PEBBLE_PORT       ACME directory port (default 14000): https://127.0.0.1:PORT/dir
#   PEBBLE_MGMT_PORT  management port (default 15000): the CA roots of issued certificates
#   PEBBLE_DNS_PORT   mock DNS port (default 8053)
#   PEBBLE_VALIDITY   lifetime of issued certificates in seconds (default 172800: two days)
#   PEBBLE_DIR        folder for config, keys, pids, logs (default /tmp/lifeops-pebble-$PEBBLE_PORT)
#
# Facts printed: DIRECTORY (ACME directory URL), CA_BUNDLE (the certificate that
# signs pebble's own HTTPS listener: what lifeops' front.tls.acme.ca_bundle
# names), ROOTS (the root and intermediate that sign issued certificates: what
# test clients trust; new on every pebble start).
set -euo pipefail

PORT=${PEBBLE_PORT:-14000}
MGMT=${PEBBLE_MGMT_PORT:-15000}
DNS=${PEBBLE_DNS_PORT:-8053}
VALIDITY=${PEBBLE_VALIDITY:-172800}
DIR=${PEBBLE_DIR:-/tmp/lifeops-pebble-$PORT}
log() { echo "[pebble] $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_one() {
  if alive "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1"
}

cmd=${1:-start}
case "$cmd" in
  stop)
    stop_one "$DIR/pebble.pid"
    stop_one "$DIR/dns.pid"
    log "stopped (folder $DIR kept)"
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
[ -n "${PEBBLE_HTTP_PORT:-}" ] || { echo "PEBBLE_HTTP_PORT (the published HTTP port of the front) is required" >&2; exit 2; }
command -v pebble >/dev/null || { echo "pebble is not installed: apt-get install -y pebble (testbed/setup.sh)" >&2; exit 1; }

mkdir -p "$DIR"
chmod 700 "$DIR"
# pebble's own HTTPS listener: a small CA and a leaf for localhost/127.0.0.1
if [ ! -s "$DIR/listener.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lifeops test pebble listener CA" \
    -keyout "$DIR/listener-ca.key" -out "$DIR/listener-ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DIR/listener.key" -out "$DIR/listener.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$DIR/listener.ext"
  openssl x509 -req -in "$DIR/listener.csr" -CA "$DIR/listener-ca.pem" -CAkey "$DIR/listener-ca.key" -CAcreateserial \
    -days 3650 -extfile "$DIR/listener.ext" -out "$DIR/listener.pem" 2>/dev/null
fi

cat >"$DIR/config.json.new" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PORT",
    "managementListenAddress": "127.0.0.1:$MGMT",
    "certificate": "$DIR/listener.pem",
    "privateKey": "$DIR/listener.key",
    "httpPort": $PEBBLE_HTTP_PORT,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "certificateValidityPeriod": $VALIDITY
  }
}
JSON
changed=1
if [ -f "$DIR/config.json" ] && cmp -s "$DIR/config.json" "$DIR/config.json.new"; then changed=0; fi
mv "$DIR/config.json.new" "$DIR/config.json"

if ! alive "$DIR/dns.pid"; then
  # every A query answered with 127.0.0.1; its other listeners are turned off
  setsid pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$((DNS + 1))" >"$DIR/dns.log" 2>&1 </dev/null &
  echo $! >"$DIR/dns.pid"
fi
if [ "$changed" = 1 ] || ! alive "$DIR/pebble.pid"; then
  stop_one "$DIR/pebble.pid"
  # no random 0-15 s sleep before each validation; PEBBLE_VA_ALWAYS_VALID stays unset (validation is real)
  PEBBLE_VA_NOSLEEP=1 setsid pebble -config "$DIR/config.json" -dnsserver "127.0.0.1:$DNS" >"$DIR/pebble.log" 2>&1 </dev/null &
  echo $! >"$DIR/pebble.pid"
  rm -f "$DIR/roots.pem"
fi
for _ in $(seq 100); do
  curl -sf --cacert "$DIR/listener-ca.pem" "https://127.0.0.1:$PORT/dir" >/dev/null && break
  alive "$DIR/pebble.pid" || { cat "$DIR/pebble.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf --cacert "$DIR/listener-ca.pem" "https://127.0.0.1:$PORT/dir" >/dev/null || { log "no directory on :$PORT"; cat "$DIR/pebble.log" >&2; exit 1; }
if [ ! -s "$DIR/roots.pem" ]; then
  { curl -sf --cacert "$DIR/listener-ca.pem" "https://127.0.0.1:$MGMT/roots/0"; echo; \
    curl -sf --cacert "$DIR/listener-ca.pem" "https://127.0.0.1:$MGMT/intermediates/0"; echo; } >"$DIR/roots.pem.new"
  mv "$DIR/roots.pem.new" "$DIR/roots.pem"
fi
log "running: directory on :$PORT, validation to :$PEBBLE_HTTP_PORT, DNS on :$DNS, lifetime ${VALIDITY}s"
echo "DIRECTORY=https://127.0.0.1:$PORT/dir"
echo "CA_BUNDLE=$DIR/listener-ca.pem"
echo "ROOTS=$DIR/roots.pem"
echo "DIR=$DIR"
