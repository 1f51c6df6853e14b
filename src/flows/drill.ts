// A restore drill: `backups verify --latest` (for cron) verifies the newest
// backup of the environment (checksums, then a real restore into a scratch
// database) and records when, which backup and the outcome in the state dir,
// where `status` reads it. A failed drill is recorded too, then rethrown.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { backupDir, listBackups } from '../backup/catalog.js';
import { recordDrill } from '../state/status.js';
import { verifyBackup } from './verify.js';
import type { Run } from './context.js';

export async function verifyLatest(stack: Stack, run: Run, opts: { stateDir: string }): Promise<Awaited<ReturnType<typeof verifyBackup>>> {
  const newest = listBackups(backupDir(stack, opts.stateDir), stack.project, stack.env).at(-1);
  const t0 = run.io.now();
  if (!newest) {
    const error = `no backup of ${stack.project} to verify in ${backupDir(stack, opts.stateDir)}`;
    recordDrill(opts.stateDir, stack.env, { time: t0.toISOString(), ok: false, duration_ms: 0, error, run_id: run.id });
    throw new OperationError(error, 'take one: lifeops backup');
  }
  try {
    const r = await verifyBackup(stack, run, { stateDir: opts.stateDir, id: newest.id });
    const end = run.io.now();
    recordDrill(opts.stateDir, stack.env, { time: end.toISOString(), ok: true, backup: newest.id, backup_time: newest.time, duration_ms: end.getTime() - t0.getTime(), run_id: run.id });
    return r;
  } catch (e) {
    const end = run.io.now();
    const error = run.redactor.text((e as Error).message.split('\n')[0]);
    recordDrill(opts.stateDir, stack.env, { time: end.toISOString(), ok: false, backup: newest.id, backup_time: newest.time, duration_ms: end.getTime() - t0.getTime(), error, run_id: run.id });
    throw e;
  }
}
