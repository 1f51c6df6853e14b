// A real-engine lane whose files failed runs those files once more (scripts/
// test.sh). This merges that second run into the lane's report: each rerun
// file's results replace its first ones, and the report keeps a `reruns` list
// (file, the tests that failed the first time, and their first message) that
// summary.mjs prints, so a test that needed a second run is always named.
//   node scripts/rerun-merge.mjs failed-files REPORT        print the failed files
//   node scripts/rerun-merge.mjs merge REPORT RERUN_REPORT  merge in place
import { readFileSync, writeFileSync } from 'node:fs';

const [mode, reportFile, rerunFile] = process.argv.slice(2);
const report = JSON.parse(readFileSync(reportFile, 'utf8'));
const failedFiles = (r) => r.testResults.filter((f) => f.status === 'failed').map((f) => f.name);

if (mode === 'failed-files') {
  console.log(failedFiles(report).join('\n'));
  process.exit(0);
}

let rerun;
try {
  rerun = JSON.parse(readFileSync(rerunFile, 'utf8'));
} catch {
  process.exit(0); // the rerun left no report: the first report stands, still failed
}
const count = (results, status) => results.reduce((n, f) => n + f.assertionResults.filter((a) => a.status === status).length, 0);
const reruns = report.reruns ?? [];
for (const second of rerun.testResults) {
  const i = report.testResults.findIndex((f) => f.name === second.name);
  if (i < 0) continue;
  const first = report.testResults[i];
  const firstFailures = first.assertionResults.filter((a) => a.status === 'failed');
  reruns.push({
    file: first.name,
    first_failed: firstFailures.map((a) => a.fullName),
    first_message: (firstFailures[0]?.failureMessages?.[0] ?? first.message ?? '').split('\n')[0].slice(0, 240),
    second_status: second.status,
  });
  report.testResults[i] = second;
}
report.reruns = reruns;
report.numPassedTests = count(report.testResults, 'passed');
report.numFailedTests = count(report.testResults, 'failed');
report.numPendingTests = count(report.testResults, 'pending') + count(report.testResults, 'skipped');
report.numTotalTests = report.testResults.reduce((n, f) => n + f.assertionResults.length, 0);
report.numFailedTestSuites = report.testResults.filter((f) => f.status === 'failed').length;
report.numPassedTestSuites = report.testResults.filter((f) => f.status === 'passed').length;
report.numRuntimeErrorTestSuites = report.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed')).length;
report.success = report.numFailedTests === 0 && report.numFailedTestSuites === 0;
writeFileSync(reportFile, JSON.stringify(report));
