#!/usr/bin/env bash
# Zero downtime of a version change, per compose lane (LANES, default "v2 v1"):
# `lifeops deploy --version v2` on a copy of the demo under load through its
# front, then the same change done by a plain `compose up -d`, same load.
# Load: bench/load.mjs (at most 1500 requests / 240 s, stops when the deploy
# ends). Prints one line per lane, then its time ratio: the whole lifeops
# deploy (image build, pre-deploy backup, rollout, checks) against the plain
# `up -d` plus the wait until no container is still starting. Network:
# 127.0.0.1 only. BENCH_SMOKE=1: compose v2 only, at most 100 requests, the
# dist/ already built (make test's smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SMOKE=${BENCH_SMOKE:-0}
[ "$SMOKE" = 1 ] || node scripts/build.mjs
LANES=${LANES:-$([ "$SMOKE" = 1 ] && echo v2 || echo "v2 v1")}
MAXREQ=$([ "$SMOKE" = 1 ] && echo 100 || echo 1500)
PORT=18091
ms() { echo $(( $(date +%s%N) / 1000000 )); }
for lane in $LANES; do
  demo_copy dpb "$lane" $PORT
  trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true' EXIT
  $L deploy local --version v1 > "$DIR/first-deploy.log" 2>&1 || { echo "compose $lane: the first deploy failed, see $DIR/first-deploy.log"; continue; }
  STOP=$(mktemp -u)
  node bench/load.mjs $PORT $MAXREQ 240 "$STOP" > "$DIR/load-lifeops.json" & LP=$!
  t0=$(ms); $L deploy local --version v2 > "$DIR/deploy-v2.log" 2>&1 || { touch "$STOP"; wait $LP; echo "compose $lane: the deploy of v2 failed, see $DIR/deploy-v2.log"; continue; }
  t1=$(ms); touch "$STOP"; wait $LP
  # plain compose up -d recreating web (back to v1 files): same load
  F=$DIR/state/render/local/docker-compose.yml
  rm -f "$STOP"; node bench/load.mjs $PORT $MAXREQ 240 "$STOP" > "$DIR/load-compose.json" & LP=$!
  sleep 1; sed -i 's#lifeops/demo-app:v2#lifeops/demo-app:v1#; s#APP_VERSION: v2#APP_VERSION: v1#' "$F"
  t2=$(ms); POSTGRES_PASSWORD=demo-local-password-not-secret $COMPOSE -p $P -f "$F" up -d >/dev/null 2>&1
  until [ -z "$(docker ps --filter label=com.docker.compose.project=$P --filter health=starting -q)" ]; do sleep 0.2; done
  t3=$(ms); sleep 5; touch "$STOP"; wait $LP
  echo "compose $lane: lifeops deploy v1->v2 $(cat $DIR/load-lifeops.json); plain $COMPOSE up -d $(cat $DIR/load-compose.json)"
  echo "compose $lane: time ratio: lifeops deploy $((t1 - t0)) ms, plain up -d + healthy $((t3 - t2)) ms, ratio $(python3 -c "print(f'{($t1 - $t0) / max($t3 - $t2, 1):.2f}')")x"
  $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
done
