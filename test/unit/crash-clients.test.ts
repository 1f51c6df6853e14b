// The clients a dead run left running (issue 14): every process lifeops starts
// inherits LIFEOPS_RUN_ID once the lock is held, and the run that takes over
// finds them by it in /proc, waits for them, then stops them. Real processes
// (sleep, sh), no Docker.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { RUN_ENV, endProcessesOfRun, markChildrenWithRun, processesOfRun } from '../../src/clients/processes.js';

const started: ChildProcess[] = [];
const start = (cmd: string, env: Record<string, string>) => {
  const c = spawn('sh', ['-c', cmd], { env: { ...process.env, ...env }, stdio: 'ignore' });
  started.push(c);
  return c;
};
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

describe('clients of a dead run', () => {
  it('finds the processes whose environment names the run, and only those', async () => {
    const run = `t${process.pid}a${Date.now()}`;
    const mine = start('exec sleep 30', { [RUN_ENV]: run });
    const other = start('exec sleep 30', { [RUN_ENV]: `${run}x` });
    const none = start('exec sleep 30', {});
    await new Promise((r) => setTimeout(r, 200));
    const found = processesOfRun(run);
    expect(found.map((p) => p.pid)).toEqual([mine.pid]);
    expect(found[0].command).toBe('sleep 30');
    expect(processesOfRun(run).map((p) => p.pid)).not.toContain(other.pid);
    expect(processesOfRun(run).map((p) => p.pid)).not.toContain(none.pid);
  });

  it('waits for clients that end by themselves and signals none of them', async () => {
    const run = `t${process.pid}b${Date.now()}`;
    const c = start('sleep 3', { [RUN_ENV]: run });
    await new Promise((r) => setTimeout(r, 100));
    const r = await endProcessesOfRun(run, 10_000);
    expect(r.waited.map((p) => p.pid)).toContain(c.pid);
    expect(r.signalled).toEqual([]);
    expect(processesOfRun(run)).toEqual([]);
  });

  it('stops clients still running after the wait: SIGTERM, then SIGKILL for one that ignores it', async () => {
    const run = `t${process.pid}c${Date.now()}`;
    const polite = start('exec sleep 60', { [RUN_ENV]: run });
    const stubborn = start("trap '' TERM; while :; do sleep 0.1; done", { [RUN_ENV]: run });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const r = await endProcessesOfRun(run, 300);
    expect(r.signalled).toEqual(expect.arrayContaining([polite.pid, stubborn.pid]));
    await Promise.all([exited(polite), exited(stubborn)]);
    expect(polite.signalCode).toBe('SIGTERM');
    expect(stubborn.signalCode).toBe('SIGKILL');
    expect(processesOfRun(run)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(30_000); // bounded: the wait, then 5 s per signal at most
  });

  it('a value put into our environment for the children is inherited by every process started afterwards', async () => {
    const saved = process.env[RUN_ENV];
    try {
      markChildrenWithRun('run-under-test');
      const c = spawn('sleep', ['30'], { stdio: 'ignore' });
      started.push(c);
      await new Promise((r) => setTimeout(r, 200));
      expect(processesOfRun('run-under-test').map((p) => p.pid)).toContain(c.pid);
    } finally {
      if (saved === undefined) delete process.env[RUN_ENV];
      else process.env[RUN_ENV] = saved;
    }
  });
});
