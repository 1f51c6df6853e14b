// The import round trip over a corpus of real projects' compose setups (issue
// 23). Each folder under test/fixtures/corpus/ was written for this test in the
// shape of one project's published compose file (its header comment names the
// project and the upstream file it models; .env and override files where the
// original has them). For each, the real CLI runs `lifeops import <folder>
// --check --json`, as a user would: compose (v2, no engine needed) reads the
// original in its own folder and the rendered stack, and the import must find
// them the same (exit 0, no differences), or refuse with exit 2 naming the
// compose file's line and key and what to do, having written nothing.
import { describe, it, expect } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT } from '../helpers.js';
import { CORPUS } from './import-corpus-table.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'corpus');

async function importWithCheck(project: string, file?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lifeops-corpus-${project}-`));
  cpSync(path.join(FIXTURES, project), path.join(dir, 'app'), { recursive: true });
  const r = await execa('node', [BIN, 'import', file ? path.join('app', file) : 'app', '-o', 'ops/stack.yaml', '--check', '--json'], {
    cwd: dir,
    reject: false,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    extendEnv: false,
  });
  return { dir, exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('the import corpus', () => {
  it('has at least 30 projects, each in the table, each naming the upstream file it models', () => {
    const dirs = readdirSync(FIXTURES).sort();
    expect(dirs.length).toBeGreaterThanOrEqual(30);
    expect(Object.keys(CORPUS).sort()).toEqual(dirs);
    for (const d of dirs) {
      const first = CORPUS[d].file ?? readdirSync(path.join(FIXTURES, d)).find((f) => /^(docker-)?compose\.ya?ml$/.test(f));
      expect(first, `${d}: a compose file compose picks by itself`).toBeDefined();
      // the project (owner/repository) and the upstream file it models
      const header = readFileSync(path.join(FIXTURES, d, first!), 'utf8').split('\n')[0];
      expect(header, d).toMatch(/^# Models /);
      expect(header, d).toMatch(/\b[\w.-]+\/[\w.-]+\b/);
      expect(header, d).toMatch(/\b[\w.-]+\.(ya?ml|md)\b/);
    }
  });

  for (const [project, want] of Object.entries(CORPUS)) {
    it.concurrent(`${project}: ${want.refused ? 'refused at its key' : 'same meaning'} (${want.features})`, async () => {
      const r = await importWithCheck(project, want.file);
      // never a stack trace, never a secret the fixture holds
      expect(r.stderr).not.toMatch(/\n\s+at /);
      for (const s of want.secrets ?? []) expect(r.stdout + r.stderr, `${project}: a secret printed`).not.toContain(s);
      if (want.refused) {
        expect(r.exitCode, r.stderr).toBe(2);
        expect(r.stderr).toMatch(want.refused);
        expect(r.stderr).toContain('fix: ');
        expect(existsSync(path.join(r.dir, 'ops', 'stack.yaml')), 'nothing written').toBe(false);
        return;
      }
      expect(r.exitCode, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.differences).toEqual([]);
      expect(out.loads).toBe(true);
      for (const s of want.secrets ?? []) expect(readFileSync(path.join(r.dir, 'ops', 'stack.yaml'), 'utf8'), `${project}: a secret in the stack file`).not.toContain(s);
    });
  }
});
