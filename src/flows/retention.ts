// Retention: the step that deletes what the pure decision in
// src/plan/retention.ts chose. Applied only after a new backup succeeded (the
// caller's job: it runs retention right after takeBackup returned).
import type { Run } from './context.js';
import type { Stack } from '../config/schema.js';
import { chooseDeletions, type RetentionPolicy } from '../plan/retention.js';
import { backupDir, deleteBackup, listBackups } from '../backup/catalog.js';

/**
 * Delete what the stack's policy says among this project's and environment's
 * backups (a shared backup.dir's other stacks are never touched). Returns the
 * deleted ids.
 */
export async function applyRetention(run: Run, stack: Stack, stateDir: string): Promise<string[]> {
  const dir = backupDir(stack, stateDir);
  const policy: RetentionPolicy = { keep_last: stack.backup.keep_last, max_age_days: stack.backup.max_age_days };
  const doomed = chooseDeletions(listBackups(dir, stack.project, stack.env), policy, run.io.now());
  if (!doomed.length) return [];
  return run.step(`retention: delete ${doomed.length} old backup(s)`, async () => {
    for (const id of doomed) deleteBackup(dir, id);
    run.info('retention', { deleted: doomed });
    return doomed;
  });
}
