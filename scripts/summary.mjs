// Prints "N passed, N failed" from vitest's JSON report; exit 1 when tests
// failed or none ran (a run that executed nothing is never green).
import { readFileSync } from 'node:fs';

let report;
try {
  report = JSON.parse(readFileSync(process.argv[2] ?? '.test-report.json', 'utf8'));
} catch {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const failed = report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0);
console.log(`${report.numPassedTests} passed, ${failed} failed`);
process.exit(report.numTotalTests === 0 || failed > 0 || !report.success ? 1 : 0);
