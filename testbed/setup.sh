#!/usr/bin/env bash
# lifeops test bed: installs Debian packages, starts dockerd, builds the local
# stand-in images that replace official registry images (no registry here).
# Idempotent; quick when everything is already in place.
#   --no-install    skip the apt step
#   --images-only   only build images (implies --no-install; dockerd must run or is started)
#   --check         change nothing; exit 0 only when everything is ready
#   --force         rebuild all stand-in images (not the base image)
#   --host-only     only the host packages (validators, compose v1 and v2): no engine, no images
#                   (what `make test-unit` needs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BASE_IMAGE="lifeops/base:bookworm"
BASE_PKGS="postgresql-15,redis-server,nginx-light,gettext-base,python3-gunicorn,gunicorn,python3-psycopg2,python3-redis,busybox,prometheus,prometheus-alertmanager,prometheus-node-exporter,pgbouncer,curl,ca-certificates,procps,gosu,tini,iproute2"
APT_PKGS="docker.io docker-compose mmdebstrap nginx-light prometheus prometheus-alertmanager python3-gunicorn gunicorn postgresql-15 redis-server pgbouncer curl cron restic openssh-server pebble openssl busybox-static"
# dir-under-testbed/images  image-tag   (order matters: each FROM an image listed above it;
# seed-base adds Debian's exporters and app libraries for the seed stacks' testbed environments)
IMAGES="postgres:lifeops/postgres:15
redis:lifeops/redis:7
nginx:lifeops/nginx:local
prometheus:lifeops/prometheus:local
alertmanager:lifeops/alertmanager:local
python:lifeops/python:local
placeholder:lifeops/placeholder:local
pgbouncer:lifeops/pgbouncer:local
node-exporter:lifeops/node-exporter:local
seed-base:lifeops/seed-base:local
postgres-exporter:lifeops/postgres-exporter:local
redis-exporter:lifeops/redis-exporter:local
blackbox-exporter:lifeops/blackbox-exporter:local
pgbouncer-exporter:lifeops/pgbouncer-exporter:local
lifeos-app:lifeops/lifeos-app:testbed
commandcenter-backend:lifeops/commandcenter-backend:testbed
commandcenter-frontend:lifeops/commandcenter-frontend:testbed
aiia-app:lifeops/aiia-app:testbed"
DEMO_IMAGE="lifeops/demo-app:dev"

DO_INSTALL=1 CHECK=0 FORCE=0 HOST_ONLY=0
for a in "$@"; do
  case "$a" in
    --no-install) DO_INSTALL=0 ;;
    --images-only) DO_INSTALL=0 ;;
    --check) CHECK=1 ;;
    --force) FORCE=1 ;;
    --host-only) HOST_ONLY=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done

export DOCKER_BUILDKIT=0   # the client on PATH may lack buildx; the classic builder is enough
T0=$(date +%s)
log() { echo "[testbed $(( $(date +%s) - T0 ))s] $*" >&2; }
fail() { echo "[testbed] FAIL: $*" >&2; exit 1; }
NOTREADY=0
notready() { log "not ready: $*"; NOTREADY=1; }

# ---------------------------------------------------------------- apt
missing_pkgs() {
  local p out=""
  for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"
  done
  echo "$out"
}
MISSING="$(missing_pkgs)"
if [ -z "$MISSING" ]; then
  log "apt: all packages present"
elif [ "$CHECK" = 1 ]; then
  notready "apt packages missing:$MISSING"
elif [ "$DO_INSTALL" = 1 ]; then
  log "apt: installing$MISSING"
  # keep apt from starting host services (postgres/redis/nginx would grab 5432/6379/80)
  POLICY_ADDED=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; POLICY_ADDED=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends $MISSING >/tmp/testbed-apt.log 2>&1; then
    apt-get update -q >>/tmp/testbed-apt.log 2>&1
    apt-get install -y -q --no-install-recommends $MISSING >>/tmp/testbed-apt.log 2>&1 || { [ "$POLICY_ADDED" = 1 ] && rm -f /usr/sbin/policy-rc.d; fail "apt-get install failed, see /tmp/testbed-apt.log"; }
  fi
  [ "$POLICY_ADDED" = 1 ] && rm -f /usr/sbin/policy-rc.d
  log "apt: installed"
else
  log "apt: skipped (--no-install); missing:$MISSING"
fi

# ---------------------------------------------------------------- compose v2 plugin
# Users run Compose v2 (`docker compose`); bookworm only has v1 (kept: a second
# test lane). trixie's docker-compose package holds the v2 plugin, which needs
# only libc: fetch that one .deb through a throwaway apt source list and state
# dir (the system's own sources stay on bookworm) and copy the plugin out.
COMPOSE_PLUGIN=/usr/libexec/docker/cli-plugins/docker-compose
compose_v2() { docker compose version 2>/dev/null | grep -qE 'version v?2\.'; }
debian_mirror() {  # the Debian mirror this machine already uses (deb822 first, one-line lists next)
  local m=""
  m="$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)"
  [ -n "$m" ] || m="$(grep -hE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/' | head -1 || true)"
  echo "${m:-http://deb.debian.org/debian}"
}
if compose_v2; then
  log "compose v2: present"
elif [ "$CHECK" = 1 ]; then
  notready "compose v2 plugin missing (docker compose version does not answer 2.x)"
elif [ "$DO_INSTALL" = 0 ]; then
  log "compose v2: skipped (--no-install); missing"
else
  log "compose v2: installing the plugin from trixie's docker-compose package"
  V2TMP="$(mktemp -d /tmp/testbed-compose-v2.XXXXXX)"
  mkdir -p "$V2TMP/lists/partial" "$V2TMP/deb"
  chmod 0755 "$V2TMP"   # apt downloads as _apt when it can
  if id _apt >/dev/null 2>&1; then chown _apt "$V2TMP/lists/partial" "$V2TMP/deb"; fi
  echo "deb $(debian_mirror) trixie main" > "$V2TMP/trixie.list"
  V2OPTS=(-o "Dir::Etc::sourcelist=$V2TMP/trixie.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$V2TMP/lists")
  { apt-get -q "${V2OPTS[@]}" update \
      && ( cd "$V2TMP/deb" && apt-get -q "${V2OPTS[@]}" download docker-compose ) ; } >/tmp/testbed-compose-v2.log 2>&1 \
    || { rm -rf "$V2TMP"; fail "compose v2: apt download from trixie failed, see /tmp/testbed-compose-v2.log"; }
  dpkg -x "$V2TMP"/deb/docker-compose_*.deb "$V2TMP/x" \
    || { rm -rf "$V2TMP"; fail "compose v2: dpkg -x failed"; }
  [ -f "$V2TMP/x/usr/libexec/docker/cli-plugins/docker-compose" ] \
    || { rm -rf "$V2TMP"; fail "compose v2: the package holds no usr/libexec/docker/cli-plugins/docker-compose"; }
  install -D -m 0755 "$V2TMP/x/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE_PLUGIN"
  rm -rf "$V2TMP"
  compose_v2 || fail "compose v2: $COMPOSE_PLUGIN installed but 'docker compose version' does not answer 2.x"
  log "compose v2: $(docker compose version 2>/dev/null | head -1)"
fi

if [ "$HOST_ONLY" = 1 ]; then
  if [ "$NOTREADY" = 1 ]; then log "check: NOT READY"; exit 1; fi
  log "host packages ready (${SECONDS}s)"; exit 0
fi

# ---------------------------------------------------------------- host services must not hold ports
port_holder() { ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep -oE 'pid=[0-9]+' | head -1 | cut -d= -f2 || true; }
HELD=""
for port in 5432 6379 80 6432; do
  pid="$(port_holder $port)"
  [ -n "$pid" ] || continue
  comm="$(cat /proc/$pid/comm 2>/dev/null || true)"
  case "$comm" in
    postgres|redis-server|nginx|pgbouncer) HELD="$HELD $port:$comm:$pid" ;;
    docker-proxy) ;;  # a container's published port: not ours to judge
    *) log "warning: port $port held by $comm (pid $pid)" ;;
  esac
done
if [ -z "$HELD" ]; then
  log "host services: none holding 5432/6379/80/6432"
elif [ "$CHECK" = 1 ]; then
  notready "host services hold ports:$HELD"
else
  log "host services: stopping$HELD"
  for svc in postgresql redis-server nginx pgbouncer; do
    service "$svc" stop >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  done
  sleep 1
  for port in 5432 6379 80 6432; do
    pid="$(port_holder $port)"; [ -n "$pid" ] || continue
    comm="$(cat /proc/$pid/comm 2>/dev/null || true)"
    case "$comm" in postgres|redis-server|nginx|pgbouncer) log "host services: SIGTERM $comm pid $pid (port $port)"; kill "$pid" || true ;; esac
  done
  sleep 2
  for port in 5432 6379 80 6432; do
    pid="$(port_holder $port)"; [ -n "$pid" ] || continue
    case "$(cat /proc/$pid/comm 2>/dev/null)" in postgres|redis-server|nginx|pgbouncer) fail "port $port still held by pid $pid" ;; esac
  done
fi

# ---------------------------------------------------------------- dockerd
command -v docker >/dev/null || fail "no docker client on PATH"
if docker info >/dev/null 2>&1; then
  log "docker: engine running"
elif [ "$CHECK" = 1 ]; then
  notready "docker engine not running"
else
  command -v dockerd >/dev/null || fail "dockerd not installed"
  log "docker: starting dockerd (log /var/log/dockerd.log)"
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || fail "docker info still failing after 60 s, see /var/log/dockerd.log"
  log "docker: engine up"
fi
if [ "$CHECK" = 1 ] && [ "$NOTREADY" = 1 ] && ! docker info >/dev/null 2>&1; then
  log "check: NOT READY"; exit 1
fi

# ---------------------------------------------------------------- base image
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base: $BASE_IMAGE present"
elif [ "$CHECK" = 1 ]; then
  notready "base image $BASE_IMAGE absent"
else
  log "base: building $BASE_IMAGE with mmdebstrap (about a minute)"
  # customize hook: drop the cluster Debian creates at install time, apt lists and docs
  mmdebstrap --quiet --variant=apt --include="$BASE_PKGS" \
    --customize-hook='chroot "$1" sh -c "pg_dropcluster 15 main 2>/dev/null || true"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/cache/apt/*.bin' \
    bookworm - 2>/tmp/testbed-mmdebstrap.log \
    | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null \
    || fail "base image build failed, see /tmp/testbed-mmdebstrap.log"
  log "base: built"
fi

# ---------------------------------------------------------------- stand-in images
BASE_ID="$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || echo none)"
ctx_hash() {  # content hash of a build context (files, exec bits) + the id of its FROM image
  local from fromid
  from="$(awk 'toupper($1)=="FROM"{print $2; exit}' "$1/Dockerfile")"
  fromid="$(docker image inspect -f '{{.Id}}' "$from" 2>/dev/null || echo none)"
  ( cd "$1" && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; find . -type f -perm -u+x | LC_ALL=C sort; echo "$fromid" ) | sha256sum | cut -c1-32
}
build_if_changed() {  # name tag dir
  local name="$1" tag="$2" dir="$3" want have
  [ -f "$dir/Dockerfile" ] || fail "$dir/Dockerfile missing"
  want="$(ctx_hash "$dir")"
  have="$(docker image inspect -f '{{index .Config.Labels "lifeops.testbed.hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$want" = "$have" ] && [ "$FORCE" = 0 ]; then
    log "image $tag: up to date"
  elif [ "$CHECK" = 1 ]; then
    if [ -n "$have" ]; then notready "image $tag is out of date"; else notready "image $tag is absent"; fi
  else
    log "image $tag: building ($name)"
    docker build -q --force-rm --label "lifeops.testbed.hash=$want" -t "$tag" "$dir" >/tmp/testbed-build-"$name".log 2>&1 \
      || { cat /tmp/testbed-build-"$name".log >&2; fail "docker build $tag failed"; }
    log "image $tag: built"
    BUILT=1
  fi
}
BUILT=0
if [ "$BASE_ID" != none ]; then
  while IFS=: read -r dir tag; do
    build_if_changed "$dir" "$tag" "$HERE/images/$dir"
  done <<< "$IMAGES"
  if docker image inspect lifeops/python:local >/dev/null 2>&1 && [ -f "$ROOT/demo/app/Dockerfile" ]; then
    build_if_changed demo-app "$DEMO_IMAGE" "$ROOT/demo/app"
  fi
fi

if [ "$BUILT" = 1 ]; then  # drop the untagged predecessors of rebuilt stand-ins
  docker image prune -f --filter label=lifeops.testbed.hash >/dev/null 2>&1 || true
fi
if [ "$NOTREADY" = 1 ]; then log "check: NOT READY"; exit 1; fi
log "ready (${SECONDS}s)"
