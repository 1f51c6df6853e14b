#!/usr/bin/env bash
# Runs the whole vitest suite (unit, render, validators, real-engine
# integration) and ends with one plain line: "N passed, N failed", counted
# from vitest's JSON report, so a run that executed nothing cannot look green.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f .test-report.json
# Leftovers from an interrupted earlier run would hold ports and names.
for p in $(docker ps -aq --filter label=lifeops.stack 2>/dev/null | xargs -r docker inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' 2>/dev/null | sort -u); do
  case "$p" in skel-*|sick-*|bkt-*|dpt-*|dpm-*|bkm-*) docker ps -aq --filter "label=com.docker.compose.project=$p" | xargs -r docker rm -f >/dev/null ;; esac
done
rm -rf .tmp-tests
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-report.json "$@"
rc=$?
node scripts/summary.mjs .test-report.json
summary=$?
[ $rc -ne 0 ] && exit $rc
exit $summary
