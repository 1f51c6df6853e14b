// The docker and compose clients a dead run left running: found by the run id
// every child inherits (RUN_ENV), waited for, then signalled. The only code
// that signals another process (state/lock.ts only reads /proc).
import { readdirSync, readFileSync } from 'node:fs';
import { procStat } from '../util/proc.js';

/** Set in our environment once the lock is held (flows/recover.ts takeLock): every child inherits it. */
export const RUN_ENV = 'LIFEOPS_RUN_ID';

/** RUN_ENV=run in our environment: every process started from now on inherits it (how a dead run's clients are found again). */
export function markChildrenWithRun(run: string): void {
  process.env[RUN_ENV] = run;
}

export interface RunProcess {
  pid: number;
  command: string;
}

/**
 * Processes still running whose environment says they were started by run
 * `run` (the docker and compose clients of a dead run: they outlive a
 * SIGKILL of lifeops itself). Zombies and this process are left out; the
 * environments of other users' processes are unreadable unless root.
 */
export function processesOfRun(run: string): RunProcess[] {
  const needle = Buffer.from(`\0${RUN_ENV}=${run}\0`);
  const first = Buffer.from(`${RUN_ENV}=${run}\0`);
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
  const out: RunProcess[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (!(env.includes(needle) || env.subarray(0, first.length).equals(first))) continue;
    const st = procStat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      /* gone */
    }
    out.push({ pid, command });
  }
  return out;
}

/**
 * Wait up to `waitMs` for a dead run's clients to end by themselves (a
 * `compose up` finishing what it started leaves a state the recovery can
 * read), then SIGTERM what is left, and SIGKILL it 5 s later. Returns the
 * pids that had to be signalled.
 */
export async function endProcessesOfRun(run: string, waitMs: number): Promise<{ waited: RunProcess[]; signalled: number[] }> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const waited = processesOfRun(run);
  const deadline = Date.now() + waitMs;
  while (processesOfRun(run).length && Date.now() < deadline) await sleep(200);
  const signalled: number[] = [];
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const left = processesOfRun(run);
    if (!left.length) break;
    for (const p of left) {
      try {
        process.kill(p.pid, sig);
        if (!signalled.includes(p.pid)) signalled.push(p.pid);
      } catch {
        /* ended meanwhile */
      }
    }
    const until = Date.now() + 5000;
    while (processesOfRun(run).length && Date.now() < until) await sleep(100);
  }
  return { waited, signalled };
}
