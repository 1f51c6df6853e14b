#!/usr/bin/env bash
# Overhead of `lifeops deploy` on a stack where nothing changed, against what a
# deploy script runs for the same (`compose up -d`, then wait until no
# container is still starting), per compose lane (LANES, default "v2 v1"), on
# a copy of the demo (port 18093). N alternating pairs per lane; prints one
# line per lane (medians and the ratio) and the median time of each lifeops
# step. Network: 127.0.0.1 only. BENCH_SMOKE=1: one pair on compose v2, the
# dist/ already built (make test's smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SMOKE=${BENCH_SMOKE:-0}
N=${N:-$([ "$SMOKE" = 1 ] && echo 1 || echo 7)}
LANES=${LANES:-$([ "$SMOKE" = 1 ] && echo v2 || echo "v2 v1")}
[ "$SMOKE" = 1 ] || node scripts/build.mjs >/dev/null
PORT=18093
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
for lane in $LANES; do
  demo_copy unb "$lane" $PORT
  $L deploy local >/dev/null 2>&1
  F=$DIR/state/render/local/docker-compose.yml
  raw() {
    POSTGRES_PASSWORD=demo-local-password-not-secret $COMPOSE -p $P -f "$F" up -d >/dev/null 2>&1
    until [ -z "$(docker ps --filter label=com.docker.compose.project=$P --filter health=starting -q)" ]; do sleep 0.2; done
  }
  a=(); b=()
  for i in $(seq "$N"); do
    if (( i % 2 )); then
      t0=$(ms); $L deploy local >/dev/null 2>&1; t1=$(ms); raw; t2=$(ms); a+=($((t1 - t0))); b+=($((t2 - t1)))
    else
      t0=$(ms); raw; t1=$(ms); $L deploy local >/dev/null 2>&1; t2=$(ms); b+=($((t1 - t0))); a+=($((t2 - t1)))
    fi
  done
  ma=$(printf '%s\n' "${a[@]}" | median); mb=$(printf '%s\n' "${b[@]}" | median)
  echo "compose $lane: unchanged deploy, median of $N: lifeops ${ma} ms (${a[*]}), $COMPOSE up -d + health ${mb} ms (${b[*]}), ratio $(python3 -c "print(f'{$ma/$mb:.2f}')")x"
  echo "  lifeops steps (median seconds over the last $N deploys):"
  ls -t "$DIR"/state/logs/*.jsonl | head -"$N" | while read -r log; do node bench/runlog.mjs "$log" --all; done |
    python3 -c "
import sys, statistics, collections
d = collections.defaultdict(list)
for line in sys.stdin:
    s, t = line.rstrip('\n').split('\t', 1); d[t].append(float(s))
for t, v in d.items(): print(f'    {statistics.median(v):6.3f}  {t}')"
  $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
done
