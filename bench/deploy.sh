#!/usr/bin/env bash
# A version change, per compose lane (LANES, default "v2 v1"), on a copy of
# the demo under load through its front (bench/load.mjs: at most MAXREQ
# requests, 240 s, stops when the change ends). Alternately, ROUNDS times:
#  - lifeops: `deploy local --version vN --skip-backup --build` (its build,
#    always run as the raw side's is: an image vN left by an earlier run or
#    another copy would otherwise be reused and skip the build; the roll
#    beside the old container, the checks, the release record, the prune);
#  - raw: the same `docker build` of vN+1, then `compose up -d --no-deps
#    --wait web worker` (v1 has no --wait: up -d, then wait until no
#    container is starting), which recreates web in place.
# Prints per round the times and failed/total requests of each, then the
# ratio of the medians (goal <= 1.5x). Network: 127.0.0.1 only.
# BENCH_SMOKE=1: compose v2 only, one round, at most 100 requests, the dist/
# already built.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SMOKE=${BENCH_SMOKE:-0}
[ "$SMOKE" = 1 ] || node scripts/build.mjs
LANES=${LANES:-$([ "$SMOKE" = 1 ] && echo v2 || echo "v2 v1")}
ROUNDS=${ROUNDS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 3)}
MAXREQ=$([ "$SMOKE" = 1 ] && echo 100 || echo 1500)
PORT=18091
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { python3 -c "import statistics,sys; print(int(statistics.median(int(x) for x in sys.argv[1:])))" "$@"; }
load_start() { STOP=$(mktemp -u); node bench/load.mjs $PORT $MAXREQ 240 "$STOP" > "$1" & LP=$!; }
# sets LOAD (failed/total); not in $(...): a subshell cannot wait for the load process
load_stop() { touch "$STOP"; wait $LP; LOAD=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['failed']}/{d['total']} failed\")" "$1"); }
for lane in $LANES; do
  demo_copy dpb "$lane" $PORT
  trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true' EXIT
  $L deploy local --version v0 > "$DIR/first-deploy.log" 2>&1 || { echo "compose $lane: the first deploy failed, see $DIR/first-deploy.log"; exit 1; }
  F=$DIR/state/render/local/docker-compose.yml
  LT=(); RT=()
  for round in $(seq 1 "$ROUNDS"); do
    v=$((2 * round - 1)); w=$((2 * round))
    load_start "$DIR/load-lifeops-$round.json"
    t0=$(ms); $L deploy local --version v$v --skip-backup --build > "$DIR/deploy-v$v.log" 2>&1 || { load_stop "$DIR/load-lifeops-$round.json"; echo "compose $lane: the deploy of v$v failed, see $DIR/deploy-v$v.log"; exit 1; }
    t1=$(ms); load_stop "$DIR/load-lifeops-$round.json"; lifeops_load=$LOAD
    # the raw tool: the same build lifeops runs, then recreate web and worker on the new image
    load_start "$DIR/load-raw-$round.json"
    t2=$(ms)
    docker build -q -t "lifeops/demo-app:v$w" --build-arg "APP_VERSION=v$w" --label lifeops.stack=dpb$lane demo/app >/dev/null
    sed -i "s#lifeops/demo-app:v$v#lifeops/demo-app:v$w#; s#APP_VERSION: v$v#APP_VERSION: v$w#" "$F"
    if [ "$lane" = v2 ]; then
      POSTGRES_PASSWORD=demo-local-password-not-secret $COMPOSE -p $P -f "$F" up -d --no-deps --wait web worker >/dev/null 2>&1
    else
      POSTGRES_PASSWORD=demo-local-password-not-secret $COMPOSE -p $P -f "$F" up -d --no-deps web worker >/dev/null 2>&1
      until [ -z "$(docker ps --filter label=com.docker.compose.project=$P --filter health=starting -q)" ]; do sleep 0.2; done
    fi
    t3=$(ms); sleep 2; load_stop "$DIR/load-raw-$round.json"; raw_load=$LOAD
    LT+=($((t1 - t0))); RT+=($((t3 - t2)))
    echo "compose $lane round $round: lifeops deploy v$v $((t1 - t0)) ms ($lifeops_load); build + up -d --no-deps web worker $((t3 - t2)) ms ($raw_load)"
  done
  lm=$(median "${LT[@]}"); rm_=$(median "${RT[@]}")
  echo "compose $lane: median of $ROUNDS: lifeops deploy $lm ms, build + compose up $rm_ ms, ratio $(python3 -c "print(f'{$lm / max($rm_, 1):.2f}')")x"
  $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
done
