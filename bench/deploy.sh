#!/usr/bin/env bash
# Zero-downtime and overhead of `lifeops deploy` on a copy of the demo (project dpb-local, port 18091).
# Load: bench/load.mjs (at most 1500 requests / 240 s, stops when the deploy ends). Network: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs
DIR=.tmp-tests/dpb; PORT=18091; mkdir -p "$DIR"
sed -e 's/^name: demo$/name: dpb/' -e "s/DEMO_HTTP_PORT: \"8080\"/DEMO_HTTP_PORT: \"$PORT\"/" -e 's#\.\./demo/#../../demo/#g' stacks/demo.yaml > "$DIR/stack.yaml"
cp stacks/demo.local.env "$DIR/"
L="node bin/lifeops.js -f $DIR/stack.yaml --state-dir $DIR/state"
trap '$L down --volumes --yes >/dev/null 2>&1 || true' EXIT
$L deploy local --version v1 >/dev/null 2>&1
STOP=$(mktemp -u)
node bench/load.mjs $PORT 1500 240 "$STOP" > "$DIR/load-lifeops.json" & LP=$!
$L deploy local --version v2 >/dev/null 2>&1; touch "$STOP"; wait $LP
echo "lifeops deploy v1->v2:  $(cat $DIR/load-lifeops.json)"
# plain compose up -d recreating web (back to v1 files): same load
F=$DIR/state/render/local/docker-compose.yml
rm -f "$STOP"; node bench/load.mjs $PORT 1500 240 "$STOP" > "$DIR/load-compose.json" & LP=$!
sleep 1; sed -i 's#lifeops/demo-app:v2#lifeops/demo-app:v1#; s#APP_VERSION: v2#APP_VERSION: v1#' "$F"
POSTGRES_PASSWORD=demo-local-password-not-secret docker-compose --compatibility -p dpb-local -f "$F" up -d >/dev/null 2>&1; sleep 5; touch "$STOP"; wait $LP
echo "plain compose up -d:    $(cat $DIR/load-compose.json)"
$L deploy local --version v2 --skip-backup >/dev/null 2>&1
# overhead on an unchanged stack
t0=$(date +%s.%N); $L deploy local --version v2 --skip-backup >/dev/null 2>&1; t1=$(date +%s.%N)
POSTGRES_PASSWORD=demo-local-password-not-secret docker-compose --compatibility -p dpb-local -f "$F" up -d >/dev/null 2>&1
until [ -z "$(docker ps --filter label=com.docker.compose.project=dpb-local --filter health=starting -q)" ]; do sleep 0.2; done; t2=$(date +%s.%N)
python3 -c "a=$t1-$t0; b=$t2-$t1; print(f'unchanged deploy: lifeops {a:.1f}s, compose up -d + health {b:.1f}s, ratio {a/b:.2f}x')"
