// A vitest reporter that keeps what the JSON report drops: the errors of a
// describe block's beforeAll/afterAll hooks (the JSON report marks the file
// failed with an empty message) and the run's unhandled errors. Written to
// the file LIFEOPS_SUITE_ERRORS names; scripts/summary.mjs prints them, so
// a CI log's tail says why a file failed with no failed test.
import { writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

interface SuiteError {
  file: string;
  suite: string;
  message: string;
  stack?: string;
}

export default class SuiteErrorsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<{ message?: string; stack?: string }>): void {
    const out = process.env.LIFEOPS_SUITE_ERRORS;
    if (!out) return;
    const rows: SuiteError[] = [];
    const add = (file: string, suite: string, e: { message?: string; stack?: string }) => rows.push({ file, suite, message: e.message ?? String(e), stack: e.stack });
    for (const m of modules) {
      for (const e of m.errors()) add(m.moduleId, '(file)', e);
      for (const s of m.children.allSuites()) for (const e of s.errors()) add(m.moduleId, s.fullName, e);
    }
    for (const e of unhandled) add('(unhandled)', '', e);
    writeFileSync(out, JSON.stringify(rows, null, 1) + '\n');
  }
}
