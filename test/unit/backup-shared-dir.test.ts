// Two stacks sharing one backup.dir: each lists, keeps and deletes only its own
// backups; verified marks from both survive; another stack's backup is refused.
import { describe, it, expect, beforeEach } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import { Run, type IO } from '../../src/flows/context.js';
import { Redactor } from '../../src/util/redact.js';
import { listBackups, markVerified, readVerified, loadBackup } from '../../src/backup/catalog.js';
import type { BackupManifest } from '../../src/backup/format.js';
import { applyRetention } from '../../src/flows/retention.js';
import { demoCopy, at } from '../helpers.js';

let shared = '';
const stackFor = (name: string) => {
  const copy = demoCopy(name, 18600, (d) => {
    at(d, 'backup').dir = shared;
    at(d, 'backup').keep_last = 2;
  });
  return { stack: loadStack({ file: copy.file, env: 'local', processEnv: {}, allowMissing: true }), stateDir: copy.stateDir };
};
const day = (n: number) => new Date(Date.UTC(2026, 10, n)).toISOString();
function fakeBackup(project: string, id: string, time: string): void {
  mkdirSync(path.join(shared, id));
  const m: Partial<BackupManifest> = { format: 1, id, env: 'local', project, time, files: [], size: 0 };
  writeFileSync(path.join(shared, id, 'manifest.json'), JSON.stringify(m));
}
const io = (): IO => ({ stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(day(20)), verbose: false, json: false });

describe('a backup.dir shared by two stacks', () => {
  beforeEach(() => {
    shared = mkdtempSync(path.join(os.tmpdir(), 'lifeops-shared-'));
    for (let i = 1; i <= 4; i++) {
      fakeBackup('alpha-local', `a${i}`, day(i));
      fakeBackup('beta-local', `b${i}`, day(i));
    }
  });

  it('lists only its own project', () => {
    const { stack } = stackFor('alpha');
    expect(stack.project).toBe('alpha-local');
    expect(listBackups(shared, stack.project, 'local').map((b) => b.id)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(listBackups(shared, 'beta-local').map((b) => b.id)).toEqual(['b1', 'b2', 'b3', 'b4']);
  });

  it('retention deletes only its own backups and their verified marks', async () => {
    const { stack, stateDir } = stackFor('alpha');
    markVerified(shared, 'a1', new Date(day(2)));
    markVerified(shared, 'b1', new Date(day(2)));
    const run = new Run(io(), stateDir, new Redactor([]), 'test');
    // keep_last 2 keeps a3, a4; a1 is the newest verified one: kept too
    expect(await applyRetention(run, stack, stateDir)).toEqual(['a2']);
    expect(readdirSync(shared).filter((n) => !n.startsWith('.')).sort()).toEqual(['a1', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4']);
    markVerified(shared, 'a4', new Date(day(5)));
    expect(await applyRetention(run, stack, stateDir)).toEqual(['a1']);
    expect(Object.keys(readVerified(shared)).sort()).toEqual(['a4', 'b1']);
    expect(existsSync(path.join(shared, 'b1'))).toBe(true);
  });

  it('keeps every verified mark written by either stack, and reads the older verified.json', () => {
    writeFileSync(path.join(shared, 'verified.json'), JSON.stringify({ a1: day(3) }));
    markVerified(shared, 'b2', new Date(day(4)));
    markVerified(shared, 'a3', new Date(day(5)));
    expect(readVerified(shared)).toEqual({ a1: day(3), b2: day(4), a3: day(5) });
  });

  it("refuses another stack's backup by name", () => {
    const { stack, stateDir } = stackFor('alpha');
    expect(loadBackup(stack, stateDir, 'a1').manifest.id).toBe('a1');
    expect(() => loadBackup(stack, stateDir, 'b1')).toThrow(/backup b1 belongs to stack beta-local, not alpha-local/);
  });
});
