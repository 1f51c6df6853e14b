// Runs restic for the off-site copies. Every argv and environment comes from
// src/commands/restic.ts; the password is in the child's environment only.
// Failures come back as an OperationError whose message is restic's own last
// lines (restic never prints the password).
import { OperationError } from '../errors.js';
import type { RunResult } from './runner.js';
import type { ResticCall } from '../commands/restic.js';
import type { CommandPort } from './port.js';

const tail = (r: RunResult) => (r.stderr || r.stdout).split('\n').map((l) => l.trim()).filter(Boolean).slice(-4).join('; ');

export interface ResticOptions {
  cwd?: string;
  timeoutMs?: number;
  /** the run's port: the call goes through it as a read (listing, opening, check) or, with `changes`, a change (init, backup, forget, restore) */
  port: CommandPort;
  changes?: boolean;
}

/** Run one restic call; the result whatever the exit code. A missing restic binary is an error saying how to get it. */
export async function restic(c: ResticCall, opts: ResticOptions): Promise<RunResult> {
  const o = { env: c.env, cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 30 * 60_000 };
  try {
    return await (opts.changes ? opts.port.change(c.argv, { ...o, allowFailure: true }) : opts.port.read(c.argv, o));
  } catch (e) {
    // restic did not start (not installed, killed by its timeout); any other refusal (a dry run's) passes as it is
    if (!/^could not run /.test((e as Error).message)) throw e;
    throw new OperationError(`could not run restic: ${(e as Error).message}`, 'apt-get install restic');
  }
}

/** Run one restic call; a non-zero exit is an OperationError naming what was attempted and restic's last lines. */
export async function resticChecked(c: ResticCall, what: string, opts: ResticOptions): Promise<RunResult> {
  const r = await restic(c, opts);
  if (r.exitCode !== 0) throw new OperationError(`${what} failed (restic exit ${r.exitCode}): ${tail(r)}`);
  return r;
}

/** restic's answer when the repository does not exist yet (as opposed to one it cannot reach or open). */
const NO_REPOSITORY = /Is there a repository at the following location\?|config: no such file or directory|unable to open config file/i;

/**
 * Make sure the repository exists: `cat config` opens it (and checks the
 * password); a repository that is not there yet is created with `init`.
 * Anything else (unreachable host, refused key, wrong password) is an error.
 */
export async function ensureRepository(open: ResticCall, init: ResticCall, repoName: string, port: CommandPort): Promise<'opened' | 'created'> {
  const r = await restic(open, { timeoutMs: 120_000, port });
  if (r.exitCode === 0) return 'opened';
  if (!NO_REPOSITORY.test(r.stderr)) throw new OperationError(`off-site repository ${repoName} cannot be opened (restic exit ${r.exitCode}): ${tail(r)}`);
  await resticChecked(init, `restic init of off-site repository ${repoName}`, { timeoutMs: 120_000, port, changes: true });
  return 'created';
}

/** The snapshot id from `restic backup --json` (its last line is the summary). */
export function snapshotIdOf(stdout: string): string {
  for (const line of stdout.split('\n').reverse()) {
    try {
      const j = JSON.parse(line) as { message_type?: string; snapshot_id?: string };
      if (j.message_type === 'summary' && j.snapshot_id) return j.snapshot_id;
    } catch {
      /* a progress line cut short */
    }
  }
  throw new OperationError('restic backup finished without naming its snapshot');
}

export interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  tags?: string[];
}

export function parseSnapshots(stdout: string): Snapshot[] {
  try {
    const j = JSON.parse(stdout) as Snapshot[] | null;
    return Array.isArray(j) ? j : [];
  } catch {
    throw new OperationError('restic snapshots --json printed something that is not JSON');
  }
}
