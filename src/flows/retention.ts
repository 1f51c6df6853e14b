// Retention: the step that deletes what the pure decision in
// src/plan/retention.ts chose. Applied only after a new backup succeeded (the
// caller's job: it runs retention right after takeBackup returned).
import type { Run } from './context.js';
import type { Stack } from '../config/schema.js';
import { chooseDeletions, releasedPins, type RetentionPolicy } from '../plan/retention.js';
import { backupDir, deleteBackup, listBackups, unpinBackup } from '../backup/catalog.js';

/** The stack's retention settings: the same policy here and in every off-site repository. */
export function retentionPolicy(stack: Stack): RetentionPolicy {
  const b = stack.backup;
  return { keep_last: b.keep_last, max_age_days: b.max_age_days, keep_daily: b.keep_daily, keep_weekly: b.keep_weekly, keep_monthly: b.keep_monthly };
}

/**
 * Delete what the stack's policy says among this project's and environment's
 * backups (a shared backup.dir's other stacks are never touched). Pins that a
 * newer verified backup released are removed first (the backups themselves
 * then age like any other). Returns the deleted ids.
 */
export async function applyRetention(run: Run, stack: Stack, stateDir: string): Promise<string[]> {
  const dir = backupDir(stack, stateDir);
  const policy = retentionPolicy(stack);
  const backups = listBackups(dir, stack.project, stack.env);
  const released = releasedPins(backups);
  for (const id of released) unpinBackup(dir, id);
  if (released.length) run.info('retention', { pins_released: released, why: 'a newer backup has verified' });
  const doomed = chooseDeletions(backups, policy, run.io.now());
  if (!doomed.length) return [];
  return run.step(`retention: delete ${doomed.length} old backup(s)`, async () => {
    for (const id of doomed) deleteBackup(dir, id);
    run.info('retention', { deleted: doomed });
    return doomed;
  });
}
