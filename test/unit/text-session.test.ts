// The long-lived session the backup's snapshot runs through (psql in the
// database container, clients/session.ts), on a plain shell that echoes what
// it reads: an answer is what came before the marker line; a command that
// ends before answering is said with its exit code and its stderr; closing
// it ends the command.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startTextSession } from '../../src/clients/session.js';
import { ROOT } from '../helpers.js';

mkdirSync(path.join(ROOT, '.tmp-tests'), { recursive: true });

const ECHO = ['sh', '-c', 'while IFS= read -r l; do echo "got $l"; done'];

describe('text session (clients/session.ts)', () => {
  it('answers in turn with what came before each marker, then ends with its input', async () => {
    const s = startTextSession(ECHO, 'the echo session');
    expect(await s.ask('one\ntwo\nM1\n', 'got M1')).toBe('got one\ngot two\n');
    expect(await s.ask('three\nM2\n', 'got M2')).toBe('got three\n');
    await s.finish('last\n');
    await s.close();
  });

  it('a command that ends before the marker: an error with its exit code and the end of its stderr', async () => {
    const s = startTextSession(['sh', '-c', 'read l; echo "FATAL: no such database" >&2; exit 3'], 'psql in the database container');
    await expect(s.ask('SELECT 1;\nM\n', 'M')).rejects.toThrow(/psql in the database container ended early \(exit 3\): FATAL: no such database/);
    expect(s.stderr()).toContain('FATAL');
    await s.close();
  });

  it('close gives a command still waiting for input its end of input: it finishes on its own (psql rolls back)', async () => {
    const dir = mkdtempSync(path.join(ROOT, '.tmp-tests', 'session-'));
    const s = startTextSession(['sh', '-c', `cat >/dev/null; echo ended > ${dir}/out`], 'cat');
    await s.close();
    expect(readFileSync(path.join(dir, 'out'), 'utf8')).toBe('ended\n');
  });
});
