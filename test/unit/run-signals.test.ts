// SIGINT/SIGTERM during a mutating flow (Run.trapSignals): the step running
// finishes, the next one throws an InterruptedError (exit 130/143), the undo
// steps after it run, and the error reported names the signal. The signals
// are emitted on the process object: only the handlers run, nothing is sent.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ROOT } from '../helpers.js';
import { Run } from '../../src/flows/context.js';
import { Redactor } from '../../src/util/redact.js';
import { InterruptedError, OperationError } from '../../src/errors.js';

interface Step {
  title: string;
  run: () => Promise<unknown>;
  undo?: () => Promise<unknown>;
}

/** A flow in miniature, as the flows undo: steps in order; on a failure the completed ones' undo in reverse, then the error. */
async function runSteps(run: Run, steps: Step[]): Promise<void> {
  const done: Step[] = [];
  for (const s of steps) {
    try {
      await run.step(s.title, s.run);
      done.push(s);
    } catch (e) {
      for (const d of done.reverse()) {
        if (!d.undo) continue;
        try {
          await run.step(`undo: ${d.title}`, d.undo);
        } catch {
          /* logged by run.step; keep undoing the rest */
        }
      }
      throw e;
    }
  }
}

function newRun(env: Record<string, string> = {}): Run {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), env, now: () => new Date(), verbose: false, json: false };
  return new Run(io, mkdtempSync(path.join(base, 'signals-')), new Redactor([]), 'test');
}

describe('SIGINT and SIGTERM during a flow', () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig}: the step running finishes, the next throws (exit ${code}), the undo runs`, async () => {
      const run = newRun();
      const untrap = run.trapSignals();
      const did: string[] = [];
      try {
        const err = await runSteps(run, [
          { title: 'one', run: async () => did.push('one'), undo: async () => did.push('undo one') },
          {
            title: 'two',
            run: async () => {
              process.emit(sig, sig);
              did.push('two (finished after the signal)');
            },
            undo: async () => did.push('undo two'),
          },
          { title: 'three', run: async () => did.push('three') },
        ]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InterruptedError);
        expect((err as InterruptedError).exitCode).toBe(code);
        expect((err as Error).message).toBe(`stopped by ${sig} before "three"`);
        expect(did).toEqual(['one', 'two (finished after the signal)', 'undo two', 'undo one']);
        // a failure caused by the signal (a child that got it too) is reported as the interruption
        const wrapped = run.interruption(new OperationError('pg_dump exited with 2', 'hint'));
        expect(wrapped).toBeInstanceOf(InterruptedError);
        expect((wrapped as InterruptedError).exitCode).toBe(code);
        expect((wrapped as Error).message).toBe(`stopped by ${sig}: pg_dump exited with 2`);
      } finally {
        untrap();
      }
      expect(process.listenerCount(sig)).toBe(0);
    });
  }

  it('a signal that arrives while an undo runs does not stop the undo; it is still reported (exit 143)', async () => {
    const run = newRun();
    const untrap = run.trapSignals();
    const did: string[] = [];
    try {
      await run.step('one', async () => did.push('one'));
      // the flow failed for another reason; its undo begins, and SIGTERM comes during its first step
      run.beginUndo();
      await run.step('undo: first', async () => {
        process.emit('SIGTERM', 'SIGTERM');
        did.push('undo first');
      });
      await run.step('undo: second', async () => did.push('undo second'));
      const err = run.interruption(new OperationError('the deploy failed'));
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).message).toMatch(/stopped by SIGTERM: the deploy failed/);
    } finally {
      untrap();
    }
    expect(did).toEqual(['one', 'undo first', 'undo second']);
  });

  it('without a signal, errors are reported as they are', () => {
    const e = new OperationError('x');
    expect(newRun().interruption(e)).toBe(e);
  });
});
