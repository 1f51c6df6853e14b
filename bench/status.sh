#!/usr/bin/env bash
# `lifeops status` (every check: engine, endpoints, readiness through the
# front, backups, drill, ledger, lock, disk; then each --format) against the
# raw tool's `ps` on the same deployed stack, in the same run: compose v2
# (`docker compose ps`) and v1 (`docker-compose ps`) when installed.
# Prints medians over N runs and the ratios.
#   bench/status.sh [STACK_FILE [STATE_DIR [ENV]]]   (default: the demo, `make demo` first)
#   BENCH_SMOKE=1: one run, the dist/ already built (make test's smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${BENCH_SMOKE:-0}
N=${N:-$([ "$SMOKE" = 1 ] && echo 1 || echo 11)}
STACK=${1:-stacks/demo.yaml}
STATE=${2:-$(dirname "$STACK")/.lifeops}
ENV=${3:-local}
[ "${NO_BUILD:-0}" = 1 ] || [ "$SMOKE" = 1 ] || node scripts/build.mjs   # NO_BUILD=1: measure the dist/ already built (another run is using it)
# status exits 1-3 when the stack is not OK: the project name is still in its json
PROJECT=$( (node bin/lifeops.js -f "$STACK" --state-dir "$STATE" status --env "$ENV" --json || true) | python3 -c 'import json,sys; print(json.load(sys.stdin)["project"])')
FILE=$STATE/render/$ENV/docker-compose.yml
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
has_v2=0; docker compose version >/dev/null 2>&1 && has_v2=1
has_v1=0; command -v docker-compose >/dev/null 2>&1 && has_v1=1
s=(); n=(); p2=(); p1=()
for _ in $(seq "$N"); do
  s+=("$(timeit node bin/lifeops.js -f "$STACK" --state-dir "$STATE" status --env "$ENV" --quiet)")
  n+=("$(timeit node bin/lifeops.js -f "$STACK" --state-dir "$STATE" status --env "$ENV" --format nagios)")
  [ $has_v2 = 1 ] && p2+=("$(timeit docker compose -p "$PROJECT" -f "$FILE" ps)")
  [ $has_v1 = 1 ] && p1+=("$(timeit docker-compose -p "$PROJECT" -f "$FILE" ps)")
done
ms=$(printf '%s\n' "${s[@]}" | median); mn=$(printf '%s\n' "${n[@]}" | median)
line="median of $N on $PROJECT: lifeops status ${ms} ms, status --format nagios ${mn} ms"
ratios=""
if [ $has_v2 = 1 ]; then m2=$(printf '%s\n' "${p2[@]}" | median); line+=", docker compose ps (v2) ${m2} ms"; ratios+=$(python3 -c "print(f'status {$ms/$m2:.2f}x v2 ps')"); fi
if [ $has_v1 = 1 ]; then m1=$(printf '%s\n' "${p1[@]}" | median); line+=", docker-compose ps (v1) ${m1} ms"; ratios+=$(python3 -c "print(f'; status {$ms/$m1:.2f}x v1 ps')"); fi
echo "$line"
echo "ratios: $ratios"
uptime
