// What the next run does with the data-folder copy a dead `rollback --to`
// left (plan/recovery-pitr.ts), decided from that run's step log; and, through
// the recording port, the copy of a run that never touched the data folder
// removed while one whose run left no log is kept.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import type { DockerClient } from '../../src/clients/docker.js';
import { Run } from '../../src/flows/context.js';
import { RecordingEffects } from '../../src/flows/effects.js';
import { recover } from '../../src/flows/recover.js';
import { planPitrUndo, pitrProgressFromLog, type PitrUndoVolume } from '../../src/plan/recovery-pitr.js';
import { recoverySettings } from '../../src/plan/pitr.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT } from '../helpers.js';

const start = (step: string) => ({ step, event: 'start' });
const end = (step: string) => ({ step, event: 'end', outcome: 'ok' });
/** a step that ran to its end (the log has its start, then its end) */
const ok = (step: string) => [start(step), end(step)];
const COPY = 'copy the data folder aside into volume v1 (the undo)';
const UNPACK = 'unpack base backup 2026-12-07T10-00-00Z into demo-local_pgdata, with recovery to 2026-12-07T10:31:05.000Z';
const PROMOTE = 'wait for db to finish the recovery and promote';
const PUT_BACK = 'undo: stop db, put the data folder back from v1';
type Ev = { step: string; event: string; outcome?: string };
const vol = (events: Ev[]): PitrUndoVolume => ({ volume: 'v1', run: 'r1', ...pitrProgressFromLog(events) });
const decide = (...events: (Ev | Ev[])[]) => planPitrUndo([vol(events.flat())], 'db').map(({ putBack, resetRecovery }) => ({ putBack, resetRecovery }));

describe('the copy a dead rollback --to left', () => {
  it('before the unpacking started: the data folder is whole, the copy only removed', () => {
    expect(decide(start(COPY))).toEqual([{ putBack: false, resetRecovery: false }]);
    expect(decide(start(COPY), ok(COPY))).toEqual([{ putBack: false, resetRecovery: false }]);
  });

  it('unpacking started, no promotion seen: put back (before the rollback, never a mix)', () => {
    expect(decide(ok(COPY), start(UNPACK))).toEqual([{ putBack: true, resetRecovery: false }]);
    expect(decide(ok(COPY), ok(UNPACK), start(PROMOTE))).toEqual([{ putBack: true, resetRecovery: false }]);
    // a promotion that failed is no promotion
    expect(decide(ok(COPY), ok(UNPACK), start(PROMOTE), { step: PROMOTE, event: 'end', outcome: 'failed' })).toEqual([{ putBack: true, resetRecovery: false }]);
  });

  it('promoted at the target: the recovery settings reset, the copy removed; an undo that had begun putting back: put back again', () => {
    expect(decide(ok(UNPACK), start(PROMOTE), ok(PROMOTE))).toEqual([{ putBack: false, resetRecovery: true }]);
    expect(decide(ok(UNPACK), ok(PROMOTE), start(PUT_BACK))).toEqual([{ putBack: true, resetRecovery: false }]);
  });

  it('a run that left no log: the copy is kept (nothing proves the data folder whole)', () => {
    expect(decide()).toEqual([]);
  });

  it('the recovery settings follow the live timeline when given', () => {
    expect(recoverySettings(new Date('2026-12-07T10:31:05Z'), 'cp a %p', 3)).toContain("recovery_target_timeline = '3'\n");
    expect(recoverySettings(new Date('2026-12-07T10:31:05Z'), 'cp a %p')).toContain("recovery_target_timeline = 'latest'\n");
  });
});

describe('recovery of the copies through the recording port', () => {
  it('the copy of a run that died before unpacking is removed; one whose run left no log is kept', async () => {
    const base = path.join(ROOT, '.tmp-tests');
    mkdirSync(base, { recursive: true });
    const stateDir = mkdtempSync(path.join(base, 'recover-pitr-'));
    mkdirSync(path.join(stateDir, 'logs'), { recursive: true });
    writeFileSync(path.join(stateDir, 'logs', 'run-a.jsonl'), ok(COPY).map((e) => JSON.stringify({ run: 'run-a', ...e })).join('\n') + '\n');
    const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-recover-test' } });
    const rec = new RecordingEffects((argv) => (argv[1] === 'volume' && argv[2] === 'ls' ? { stdout: 'demo-local_lifeops-pitr-undo-run-a\trun-a\ndemo-local_lifeops-pitr-undo-run-b\trun-b\n' } : undefined));
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
    const run = new Run(io, stateDir, new Redactor([]), 'test');
    run.effects = rec;
    run.useEngine({ projectContainers: async () => [], oneOffContainers: async () => [] } as unknown as DockerClient);
    const actions = await recover(stack, run, { stateDir });
    expect(actions.map((a) => a.title)).toEqual(['recovery: run run-a died before touching the data folder of db (rollback --to): remove its copy demo-local_lifeops-pitr-undo-run-a']);
    expect(rec.changes()).toEqual([['docker', 'volume', 'rm', 'demo-local_lifeops-pitr-undo-run-a']]);
  });
});
