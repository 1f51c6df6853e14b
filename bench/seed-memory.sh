#!/usr/bin/env bash
# AI-IA's 512 MB budget against what its stack really uses on this machine.
# Deploys stacks/aiia.yaml (environment testbed, compose project sdaiiamem) from a
# copy under .tmp-tests, sends a bounded warm-up (200 requests to each Django app
# through nginx on 127.0.0.1), waits, takes `docker stats --no-stream`, and prints
# the measured memory per service beside `lifeops plan`'s limits and reservations.
# The seed's six services are summed against the budget; the monitoring services
# exist only in the testbed environment (the seed runs none) and are shown apart.
# Removes the stack (and its volumes) on exit. Output: stdout (save it with tee:
#   bash bench/seed-memory.sh | tee bench/results/seed-memory.txt).
# Uses host ports 19121-19124 (the testbed environment's): not beside test/engine/seeds.test.ts.
#   SEEDMEM_ATTACH=<project>  measure an AI-IA testbed deployment already running under that
#                             compose project (e.g. sdaiia while seeds.test.ts runs): no deploy, no removal,
#                             no rebuild of dist/ (the running test uses it)
#   BENCH_SMOKE=1: the dist/ already built, 5 warm-up requests per app (make bench's smoke
#                  run; make test leaves this one out: an AI-IA deploy costs minutes here)
set -euo pipefail
SMOKE=${BENCH_SMOKE:-0}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# attached to a running test, its lifeops is in use: do not rebuild dist/ under it
[ -n "${SEEDMEM_ATTACH:-}" ] || [ "$SMOKE" = 1 ] || node scripts/build.mjs >/dev/null
DIR="$(mktemp -d "$ROOT/.tmp-tests/seedmem-XXXXXX" 2>/dev/null || { mkdir -p "$ROOT/.tmp-tests"; mktemp -d "$ROOT/.tmp-tests/seedmem-XXXXXX"; })"
PROJECT="${SEEDMEM_ATTACH:-sdaiiamem}"
node -e '
const { parse, stringify } = require("yaml"); const fs = require("fs");
const d = parse(fs.readFileSync("stacks/aiia.yaml", "utf8")); d.project = process.argv[1];
fs.writeFileSync(process.argv[2] + "/stack.yaml", stringify(d));' "$PROJECT" "$DIR"
cp stacks/aiia.testbed.env "$DIR/"
L() { node bin/lifeops.js -f "$DIR/stack.yaml" --state-dir "$DIR/state" "$@"; }
cleanup() { [ -n "${SEEDMEM_ATTACH:-}" ] || L down --volumes --yes --skip-backup --env testbed >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT

echo "# AI-IA (stacks/aiia.yaml, env testbed) memory: docker stats vs lifeops plan; $(date -u +%FT%TZ)"
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); docker $(docker version -f '{{.Server.Version}}'); $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
if [ -n "${SEEDMEM_ATTACH:-}" ]; then
  echo "# attached to the running project $PROJECT (no deploy)"
else
  T0=$(date +%s)
  L deploy testbed >"$DIR/deploy.log" 2>&1 || { tail -20 "$DIR/deploy.log" >&2; echo "deploy failed" >&2; exit 1; }
  echo "# deploy took $(( $(date +%s) - T0 )) s"
fi
ok=0; fail=0
for host in localhost staging.localhost; do
  for i in $(seq 1 "$([ "$SMOKE" = 1 ] && echo 5 || echo 100)"); do
    for p in /api/items/ /ready/; do
      if curl -fsS -m 5 -o /dev/null -H "Host: $host" "http://127.0.0.1:19121$p"; then ok=$((ok+1)); else fail=$((fail+1)); fi
    done
  done
done
echo "# warm-up: $ok ok, $fail failed requests through nginx"
[ "$SMOKE" = 1 ] || sleep 10
L plan --env testbed --json > "$DIR/plan.json"
docker ps -q --filter "label=com.docker.compose.project=$PROJECT" \
  | xargs docker inspect -f '{{.Id}} {{index .Config.Labels "com.docker.compose.service"}}' > "$DIR/names.txt"
docker stats --no-stream --no-trunc --format '{{.ID}} {{.MemUsage}}' $(cut -d' ' -f1 "$DIR/names.txt") > "$DIR/stats.txt"
node - "$DIR" <<'JS'
const fs = require('fs'); const dir = process.argv[2];
const plan = JSON.parse(fs.readFileSync(`${dir}/plan.json`, 'utf8'));
const names = Object.fromEntries(fs.readFileSync(`${dir}/names.txt`, 'utf8').trim().split('\n').map((l) => l.split(' ')));
const unit = { B: 1 / 1048576, KiB: 1 / 1024, MiB: 1, GiB: 1024, kB: 1 / 1024, MB: 1, GB: 1024 };
const used = {};
for (const l of fs.readFileSync(`${dir}/stats.txt`, 'utf8').trim().split('\n')) {
  const [id, usage] = [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)];
  const m = /^([\d.]+)\s*([KMG]i?B|B|kB)/.exec(usage.trim());
  const svc = names[id]; if (!svc || !m) continue;
  used[svc] = (used[svc] ?? 0) + Number(m[1]) * unit[m[2]];
}
const f = (n) => (n === undefined || n === null ? '-' : `${n.toFixed(1)}M`);
const rows = plan.services.map((s) => ({ s: s.service, role: s.role, lim: s.memory_limit_mib, res: s.memory_reservation_mib, used: used[s.service] }));
const line = (a, b, c, d, e) => console.log(`${a.padEnd(20)}${b.padEnd(12)}${c.padStart(10)}${d.padStart(10)}${e.padStart(12)}`);
line('SERVICE', 'ROLE', 'MEM LIMIT', 'MEM RESV', 'MEASURED');
const sum = (rs, k) => rs.reduce((n, r) => n + (r[k] ?? 0), 0);
const seed = rows.filter((r) => r.role !== 'monitoring'); const mon = rows.filter((r) => r.role === 'monitoring');
for (const r of seed) line(r.s, r.role, f(r.lim), f(r.res), f(r.used));
line('SEED TOTAL', '', f(sum(seed, 'lim')), f(sum(seed, 'res')), f(sum(seed, 'used')));
const budget = 512;
console.log(`BUDGET 512M (seed 004): limits ${(100 * sum(seed, 'lim') / budget).toFixed(0)}%, reservations ${(100 * sum(seed, 'res') / budget).toFixed(0)}%, measured ${(100 * sum(seed, 'used') / budget).toFixed(0)}% of the budget`);
console.log('-- testbed-only monitoring (not in the seed, not in its budget) --');
for (const r of mon) line(r.s, r.role, f(r.lim), f(r.res), f(r.used));
line('MONITORING TOTAL', '', f(sum(mon, 'lim')), f(sum(mon, 'res')), f(sum(mon, 'used')));
JS
