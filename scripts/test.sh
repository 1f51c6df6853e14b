#!/usr/bin/env bash
# Runs the test lanes and ends with one plain line: "N passed, N failed",
# summed from vitest's JSON reports, so a run that executed nothing cannot
# look green. Lanes (LIFEOPS_TEST_LANES, default all three, in this order):
#   unit       no Docker engine: schema, renderers, planners, argv builders,
#              golden files, real validators on the host, tsc, layer rules
#   engine     the real engine with compose v2 (what users run)
#   engine-v1  the same engine with compose v1: demo deploy, a version change
#              under load, backup, verify and rollback
#   swarm      the demo stack on a real two-node Docker Swarm (testbed/swarm.sh:
#              two dockerd of its own in network namespaces; the main engine
#              stays out of any swarm): deploy, a version change under load,
#              backup and rollback
#   seeds      (not by default: `make seeds-test`) the three seed stacks end to
#              end alone; the engine lane runs them too (test/engine/seeds.test.ts)
#   sweep      (not by default: `make sweep`) kill -9 at every step boundary
#              of backup, deploy, rollback and down, more random-time kills,
#              then the next run recovers
set -uo pipefail
cd "$(dirname "$0")/.."
LANES=${LIFEOPS_TEST_LANES:-unit engine engine-v1 swarm}
rm -f .test-report*.json
# Leftovers from an interrupted earlier run would hold ports, names and data.
# Only projects whose files live under this checkout's .tmp-tests/ are touched.
tmp_root="$PWD/.tmp-tests/"
if docker info >/dev/null 2>&1; then
  for c in $(docker ps -aq --filter label=lifeops.stack 2>/dev/null); do
    wd=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project.working_dir"}}' "$c" 2>/dev/null)
    [ "${wd#"$tmp_root"}" != "$wd" ] || continue
    p=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' "$c")
    docker rm -f "$c" >/dev/null
    docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null 2>&1 || true
  done
fi
rm -rf .tmp-tests
reports=()
rc=0
for lane in $LANES; do
  report=".test-report-$lane.json"
  reports+=("$report")
  echo "== lane $lane ($(date +%T))" >&2
  t0=$(date +%s)
  case "$lane" in
    unit) DOCKER_HOST=unix:///nonexistent npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$report" ;;
    engine) LIFEOPS_COMPOSE=v2 npx vitest run --project engine --exclude test/engine/swarm.test.ts --reporter=default --reporter=json --outputFile.json="$report" ;;
    engine-v1) LIFEOPS_COMPOSE=v1 npx vitest run --project engine --reporter=default --reporter=json --outputFile.json="$report" \
      test/engine/deploy-rollout.test.ts test/engine/backup-roundtrip.test.ts ;;
    swarm) bash testbed/swarm.sh >/dev/null && npx vitest run --project engine --reporter=default --reporter=json --outputFile.json="$report" test/engine/swarm.test.ts ;;
    seeds) LIFEOPS_SEEDS=lifeos,commandcenter,aiia LIFEOPS_COMPOSE=v2 npx vitest run --project engine --reporter=default --reporter=json --outputFile.json="$report" test/engine/seeds.test.ts ;;
    sweep) LIFEOPS_SWEEP=full npx vitest run --project engine --reporter=default --reporter=json --outputFile.json="$report" test/engine/crash-sweep.test.ts test/engine/crash-rollback.test.ts ;;
    *) echo "unknown lane $lane" >&2; exit 2 ;;
  esac
  lane_rc=$?
  [ $lane_rc -ne 0 ] && rc=$lane_rc
  echo "== lane $lane: exit $lane_rc in $(( $(date +%s) - t0 )) s" >&2
done
node scripts/summary.mjs "${reports[@]}"
summary=$?
[ $rc -ne 0 ] && exit $rc
exit $summary
