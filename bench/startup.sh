#!/usr/bin/env bash
# Start-up cost: `lifeops --version` and `lifeops status` on the deployed demo
# against the raw tool's `compose ps` on the same stack, in the same run.
# Prints medians over N runs and the ratios. Needs `make demo` first.
#   bench/startup.sh [STACK_FILE [STATE_DIR [ENV]]]   (default: the demo as `make demo` deployed it)
#   BENCH_SMOKE=1: one run (make test's smoke run, on a demo copy it deployed)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-$([ "${BENCH_SMOKE:-0}" = 1 ] && echo 1 || echo 11)}
STACK=${1:-stacks/demo.yaml}
STATE=${2:-$(dirname "$STACK")/.lifeops}
ENV=${3:-local}
COMPOSE=$(docker compose version >/dev/null 2>&1 && echo "docker compose" || echo "docker-compose")
FILE=$STATE/render/$ENV/docker-compose.yml
# status exits 1-3 when the stack is not OK: the project name is still in its json
PROJECT=$( (node bin/lifeops.js -f "$STACK" --state-dir "$STATE" status --env "$ENV" --json || true) | python3 -c 'import json,sys; print(json.load(sys.stdin)["project"])')
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
v=(); s=(); p=(); n=(); h=()
for _ in $(seq "$N"); do
  n+=("$(timeit node -e '')")
  v+=("$(timeit node bin/lifeops.js --version)")
  h+=("$(timeit node bin/lifeops.js --help)")
  s+=("$(timeit node bin/lifeops.js -f "$STACK" --state-dir "$STATE" status --env "$ENV" --quiet)")
  p+=("$(timeit $COMPOSE -p "$PROJECT" -f "$FILE" ps)")
done
mv=$(printf '%s\n' "${v[@]}" | median); ms=$(printf '%s\n' "${s[@]}" | median); mp=$(printf '%s\n' "${p[@]}" | median)
mn=$(printf '%s\n' "${n[@]}" | median); mh=$(printf '%s\n' "${h[@]}" | median)
echo "median of $N: node -e '' ${mn} ms, lifeops --version ${mv} ms, lifeops --help ${mh} ms"
python3 -c "print(f'ratios vs node -e \'\': --version {$mv/$mn:.2f}x, --help {$mh/$mn:.2f}x')"
echo "median of $N: lifeops --version ${mv} ms, lifeops status ${ms} ms, $COMPOSE ps ${mp} ms"
python3 -c "print(f'ratios vs compose ps: --version {$mv/$mp:.2f}x, status {$ms/$mp:.2f}x')"
