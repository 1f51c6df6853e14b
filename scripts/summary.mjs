// Prints "N passed, N failed" summed over vitest's JSON reports (one per lane);
// exit 1 when a test failed, a lane left no report, or nothing ran at all
// (a run that executed nothing is never green). The failed tests are named on
// the lines before it, so the tail of a CI log says what broke, and so is
// every real-engine file that passed only when run a second time (test.sh).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let total = 0;
let ok = files.length > 0;
const failures = [];
const suiteErrors = [];
const reruns = [];
for (const f of files.length ? files : ['.test-report.json']) {
  let report;
  try {
    report = JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    console.error(`no test report ${f}: that lane did not finish`);
    failed += 1;
    ok = false;
    continue;
  }
  passed += report.numPassedTests;
  // a file that failed with no failed test (a hook, an import) counts as one failure
  const fileFailures = (report.testResults ?? []).filter((t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  failed += report.numFailedTests + fileFailures;
  total += report.numTotalTests;
  if (!report.success) ok = false;
  for (const r of report.reruns ?? []) {
    const name = path.relative(process.cwd(), r.file);
    reruns.push(`RERUN [${path.basename(f).replace(/^\.test-report-?|\.json$/g, '')}] ${name}: first run failed ${r.first_failed.join('; ') || '(the file)'}: ${r.first_message}; second run ${r.second_status}`);
  }
  const lane = path.basename(f).replace(/^\.test-report-?|\.json$/g, '') || 'tests';
  // hook and unhandled errors (test/suite-errors-reporter.ts), of the lane's run and of its rerun
  for (const [run, file] of [[lane, `.test-errors-${lane}.json`], [`${lane} rerun`, `.test-errors-${lane}-rerun.json`]]) {
    if (!existsSync(file)) continue;
    for (const e of JSON.parse(readFileSync(file, 'utf8'))) {
      const where = e.file.startsWith('(') ? e.file : path.relative(process.cwd(), e.file);
      // a hook's error often says what failed on its first line and why on its last (a command's stderr)
      const lines = String(e.message).split('\n').map((l) => l.trim()).filter(Boolean);
      const said = lines.length > 1 ? `${lines[0].slice(0, 200)} ... ${lines.slice(-3).join(' | ').slice(0, 400)}` : (lines[0] ?? '').slice(0, 400);
      suiteErrors.push(`ERROR [${run}] ${where}${e.suite ? ` > ${e.suite}` : ''}: ${said}`);
    }
  }
  for (const file of report.testResults ?? []) {
    const name = path.relative(process.cwd(), file.name);
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failedTests) {
      const why = (a.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 240);
      failures.push(`FAILED [${lane}] ${name} > ${a.fullName} (${Math.round(a.duration ?? 0)} ms): ${why}`);
    }
    if (file.status === 'failed' && failedTests.length === 0) failures.push(`FAILED [${lane}] ${name}: ${(file.message || 'no test failed: a hook or the file itself did (its ERROR line above)').split('\n')[0].slice(0, 240)}`);
  }
}
for (const line of [...reruns, ...suiteErrors, ...failures]) console.log(line);
console.log(`${passed} passed, ${failed} failed`);
process.exit(total === 0 || failed > 0 || !ok ? 1 : 0);
