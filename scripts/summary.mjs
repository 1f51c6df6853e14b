// Prints "N passed, N failed" summed over vitest's JSON reports (one per lane);
// exit 1 when a test failed, a lane left no report, or nothing ran at all
// (a run that executed nothing is never green).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let total = 0;
let ok = files.length > 0;
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
  failed += report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0);
  total += report.numTotalTests;
  if (!report.success) ok = false;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(total === 0 || failed > 0 || !ok ? 1 : 0);
