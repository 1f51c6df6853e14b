#!/usr/bin/env bash
# Zero downtime of a version change, per compose lane (LANES, default "v2 v1"):
# `lifeops deploy --version v2` on a copy of the demo under load through its
# front, then the same change done by a plain `compose up -d`, same load.
# Load: bench/load.mjs (at most 1500 requests / 240 s, stops when the deploy
# ends). Prints one line per lane. Network: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
node scripts/build.mjs
LANES=${LANES:-v2 v1}
PORT=18091
for lane in $LANES; do
  demo_copy dpb "$lane" $PORT
  trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true' EXIT
  $L deploy local --version v1 > "$DIR/first-deploy.log" 2>&1 || { echo "compose $lane: the first deploy failed, see $DIR/first-deploy.log"; continue; }
  STOP=$(mktemp -u)
  node bench/load.mjs $PORT 1500 240 "$STOP" > "$DIR/load-lifeops.json" & LP=$!
  $L deploy local --version v2 >/dev/null 2>&1; touch "$STOP"; wait $LP
  # plain compose up -d recreating web (back to v1 files): same load
  F=$DIR/state/render/local/docker-compose.yml
  rm -f "$STOP"; node bench/load.mjs $PORT 1500 240 "$STOP" > "$DIR/load-compose.json" & LP=$!
  sleep 1; sed -i 's#lifeops/demo-app:v2#lifeops/demo-app:v1#; s#APP_VERSION: v2#APP_VERSION: v1#' "$F"
  POSTGRES_PASSWORD=demo-local-password-not-secret $COMPOSE -p $P -f "$F" up -d >/dev/null 2>&1; sleep 5; touch "$STOP"; wait $LP
  echo "compose $lane: lifeops deploy v1->v2 $(cat $DIR/load-lifeops.json); plain $COMPOSE up -d $(cat $DIR/load-compose.json)"
  $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
done
