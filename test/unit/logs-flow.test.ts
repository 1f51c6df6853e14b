// `lifeops logs` on compose, without Docker: compose logs is a read through
// the recording effects port (so a dry-run port lets it through), its stdout
// and stderr reach the caller with the stack's secrets masked.
import { describe, it, expect } from 'vitest';
import { streamComposeLogs } from '../../src/flows/logs.js';
import { refusingChanges } from '../../src/flows/effects.js';
import { composeSetup } from '../compose-scripted.js';

describe('compose: logs through the recording port', () => {
  it('streams compose logs of one service as a read, the secrets masked on both streams, compose exit code returned', async () => {
    const t = composeSetup('logs-');
    t.engine.script = (argv) => (argv[1] === 'compose' && argv.includes('logs') ? { stdout: 'web-1 | connecting with pw-for-the-rollback-test\n', stderr: 'warning: pw-for-the-rollback-test\n', exitCode: 3 } : undefined);
    const run = t.newRun();
    run.effects = refusingChanges(t.rec);
    let out = '';
    let err = '';
    const code = await streamComposeLogs(t.stack, run, { service: 'web', tail: 20 }, (s) => (out += s), (s) => (err += s));
    expect(code).toBe(3);
    expect(t.rec.changes()).toEqual([]);
    const read = t.rec.calls.find((c) => c.argv.includes('logs'))!;
    expect(read.kind).toBe('read');
    expect(read.argv.slice(read.argv.indexOf('logs'))).toEqual(['logs', '--no-color', '--tail', '20', 'web']);
    expect(out).toContain('web-1 | connecting with');
    expect(out + err).not.toContain('pw-for-the-rollback-test');
    expect(err).toContain('warning:');
  }, 30_000);
});
