// `lifeops offsite push`: what the cron line of backup.pitr.offsite.schedule
// runs (and an operator may run by hand): under the environment's lock, the
// backups still without an off-site copy are copied, then the WAL archive is
// pushed. A failure off-site is a warning recorded for `status`, never an
// error of this run: the next push retries.
import type { Stack } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { Lock } from '../state/lock.js';
import type { Run } from './context.js';
import { copyPending, type CopyOutcome } from './offsite.js';
import { pushWal, type WalPushOutcome } from './pitr-offsite.js';
import { lockAndRecover } from './recover.js';

export async function offsitePush(stack: Stack, run: Run, opts: { stateDir: string; commandLine: string; waitMs?: number }): Promise<{ copies: CopyOutcome[]; wal: WalPushOutcome[] }> {
  if (!stack.backup.offsite.length) throw new UsageError(`environment ${stack.env} has no backup.offsite repositories to push to`, 'add backup.offsite to the stack file');
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  try {
    lock = await lockAndRecover(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs, handleSignals: false });
    const copies = await copyPending(stack, run, opts.stateDir);
    const wal = await pushWal(stack, run, opts.stateDir);
    return { copies, wal };
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
}
