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
#              backup and rollback; a failed deploy undone (database restored), SIGTERM undone
#   seeds      (not by default: `make seeds-test`) the three seed stacks end to
#              end alone; the engine lane runs them too (test/engine/seeds.test.ts)
#   sweep      (not by default: `make sweep`) kill -9 at every step boundary
#              of backup, deploy, rollback, rollback --to and down, more random-time kills,
#              then the next run recovers
set -uo pipefail
cd "$(dirname "$0")/.."
LANES=${LIFEOPS_TEST_LANES:-unit engine engine-v1 swarm}
rm -f .test-report*.json .test-errors*.json
# .test-run.pid marks this run alive: scripts/remove-leftovers.sh, as another
# checkout's run calls it, then leaves this checkout's projects alone. Called
# here (at the start, before a rerun) and by the test beds, it removes this
# checkout's own leftovers and those of every checkout whose run is dead.
echo $$ > .test-run.pid
trap 'rm -f .test-run.pid' EXIT
remove_leftovers() {
  bash scripts/remove-leftovers.sh
  # the crash bed's own engine (testbed/engine-bed.sh), when it is up
  [ -S /run/lifeops-crashbed/docker.sock ] && bash scripts/remove-leftovers.sh unix:///run/lifeops-crashbed/docker.sock
  return 0
}
remove_leftovers
rm -rf .tmp-tests
reports=()
# vitest's own lines, the hook errors its JSON report drops, and that report
REPORTERS="--reporter=default --reporter=./test/suite-errors-reporter.ts --reporter=json"
rc=0
# what each lane sets for vitest (a rerun needs the same)
declare -A lane_env=([unit]='DOCKER_HOST=unix:///nonexistent' [engine]='LIFEOPS_COMPOSE=v2' [engine-v1]='LIFEOPS_COMPOSE=v1' [swarm]='' [seeds]='LIFEOPS_SEEDS=lifeos,commandcenter,aiia LIFEOPS_COMPOSE=v2' [sweep]='LIFEOPS_SWEEP=full')
for lane in $LANES; do
  report=".test-report-$lane.json"
  reports+=("$report")
  echo "== lane $lane ($(date +%T))" >&2
  t0=$(date +%s)
  # hook and unhandled errors, which the JSON report leaves out (summary.mjs prints them)
  export LIFEOPS_SUITE_ERRORS=".test-errors-$lane.json"
  case "$lane" in
    unit) DOCKER_HOST=unix:///nonexistent npx vitest run --project unit $REPORTERS --outputFile.json="$report" ;;
    engine) LIFEOPS_COMPOSE=v2 npx vitest run --project engine --exclude "test/engine/swarm*.test.ts" $REPORTERS --outputFile.json="$report" ;;
    engine-v1) LIFEOPS_COMPOSE=v1 npx vitest run --project engine $REPORTERS --outputFile.json="$report" \
      test/engine/deploy-rollout.test.ts test/engine/backup-roundtrip.test.ts ;;
    swarm) bash testbed/swarm.sh >/dev/null && npx vitest run --project engine $REPORTERS --outputFile.json="$report" test/engine/swarm.test.ts test/engine/swarm-undo.test.ts ;;
    seeds) LIFEOPS_SEEDS=lifeos,commandcenter,aiia LIFEOPS_COMPOSE=v2 npx vitest run --project engine $REPORTERS --outputFile.json="$report" test/engine/seeds.test.ts ;;
    sweep) LIFEOPS_SWEEP=full npx vitest run --project engine $REPORTERS --outputFile.json="$report" test/engine/crash-sweep.test.ts test/engine/crash-rollback.test.ts test/engine/crash-pitr.test.ts ;;
    *) echo "unknown lane $lane" >&2; exit 2 ;;
  esac
  lane_rc=$?
  # A test file that failed (at most two per lane) runs once more on its own,
  # after the lane's leftovers are removed: real engines, validators and
  # process races on a shared 2-core machine have bad minutes. Its second
  # result counts, and summary.mjs names every file that needed it with its
  # first failure, so a flake is never silent.
  if [ $lane_rc -ne 0 ] && [ -f "$report" ]; then
    mapfile -t failed_files < <(node scripts/rerun-merge.mjs failed-files "$report")
    if [ ${#failed_files[@]} -gt 0 ] && [ ${#failed_files[@]} -le 2 ]; then
      echo "== lane $lane: rerunning ${failed_files[*]}" >&2
      remove_leftovers
      rerun_report=".rerun-$lane.json"
      export LIFEOPS_SUITE_ERRORS=".test-errors-$lane-rerun.json"
      env ${lane_env[$lane]} npx vitest run --project "$([ "$lane" = unit ] && echo unit || echo engine)" $REPORTERS --outputFile.json="$rerun_report" "${failed_files[@]}"
      node scripts/rerun-merge.mjs merge "$report" "$rerun_report" && rm -f "$rerun_report"
      node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1])).success ? 0 : 1)' "$report" && lane_rc=0
    fi
  fi
  [ $lane_rc -ne 0 ] && rc=$lane_rc
  echo "== lane $lane: exit $lane_rc in $(( $(date +%s) - t0 )) s" >&2
done
node scripts/summary.mjs "${reports[@]}"
summary=$?
[ $rc -ne 0 ] && exit $rc
exit $summary
