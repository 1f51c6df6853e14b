#!/usr/bin/env bash
# Start-up cost: `lifeops --version` and `lifeops status` on the deployed demo
# against the raw tool's `compose ps` on the same stack, in the same run.
# Prints medians over N runs and the ratios. Needs `make demo` first.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-11}
COMPOSE=$(docker compose version >/dev/null 2>&1 && echo "docker compose" || echo "docker-compose")
FILE=stacks/.lifeops/render/local/docker-compose.yml
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
v=(); s=(); p=(); n=(); h=()
for _ in $(seq "$N"); do
  n+=("$(timeit node -e '')")
  v+=("$(timeit node bin/lifeops.js --version)")
  h+=("$(timeit node bin/lifeops.js --help)")
  s+=("$(timeit node bin/lifeops.js -f stacks/demo.yaml status --quiet)")
  p+=("$(timeit $COMPOSE -p demo-local -f "$FILE" ps)")
done
mv=$(printf '%s\n' "${v[@]}" | median); ms=$(printf '%s\n' "${s[@]}" | median); mp=$(printf '%s\n' "${p[@]}" | median)
mn=$(printf '%s\n' "${n[@]}" | median); mh=$(printf '%s\n' "${h[@]}" | median)
echo "median of $N: node -e '' ${mn} ms, lifeops --version ${mv} ms, lifeops --help ${mh} ms"
python3 -c "print(f'ratios vs node -e \'\': --version {$mv/$mn:.2f}x, --help {$mh/$mn:.2f}x')"
echo "median of $N: lifeops --version ${mv} ms, lifeops status ${ms} ms, $COMPOSE ps ${mp} ms"
python3 -c "print(f'ratios vs compose ps: --version {$mv/$mp:.2f}x, status {$ms/$mp:.2f}x')"
