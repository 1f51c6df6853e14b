#!/usr/bin/env bash
# Runs the whole vitest suite (unit, render, validators, real-engine
# integration) and ends with one plain line: "N passed, N failed", counted
# from vitest's JSON report, so a run that executed nothing cannot look green.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f .test-report.json
# Leftovers from an interrupted earlier run would hold ports, names and data.
# Only projects whose files live under this checkout's .tmp-tests/ are touched.
tmp_root="$PWD/.tmp-tests/"
for c in $(docker ps -aq --filter label=lifeops.stack 2>/dev/null); do
  wd=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project.working_dir"}}' "$c" 2>/dev/null)
  [ "${wd#"$tmp_root"}" != "$wd" ] || continue
  p=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' "$c")
  docker rm -f "$c" >/dev/null
  docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null 2>&1 || true
done
rm -rf .tmp-tests
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-report.json "$@"
rc=$?
node scripts/summary.mjs .test-report.json
summary=$?
[ $rc -ne 0 ] && exit $rc
exit $summary
