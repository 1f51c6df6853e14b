// Retention: a pure choice of which backups to delete, and the step that
// deletes them. Applied only after a new backup succeeded (the caller's job:
// it runs retention right after takeBackup returned). The newest backup and
// the newest verified one are never deleted; with no policy nothing is.
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Run } from './context.js';
import type { Stack } from '../config/schema.js';
import { backupDir, forgetVerified, listBackups, type BackupSummary } from './backup.js';

export interface RetentionPolicy {
  keep_last?: number;
  max_age_days?: number;
}

/** ids to delete. A backup is kept when it is among the keep_last newest OR younger than max_age_days. */
export function chooseDeletions(backups: BackupSummary[], policy: RetentionPolicy, now: Date): string[] {
  if (policy.keep_last === undefined && policy.max_age_days === undefined) return [];
  const newestFirst = [...backups].sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id));
  const keep = new Set<string>();
  if (newestFirst[0]) keep.add(newestFirst[0].id);
  const newestVerified = newestFirst.find((b) => b.verified);
  if (newestVerified) keep.add(newestVerified.id);
  newestFirst.forEach((b, i) => {
    const byCount = policy.keep_last !== undefined && i < policy.keep_last;
    const byAge = policy.max_age_days !== undefined && now.getTime() - Date.parse(b.time) <= policy.max_age_days * 86_400_000;
    if (byCount || byAge) keep.add(b.id);
  });
  return newestFirst.filter((b) => !keep.has(b.id)).map((b) => b.id).reverse();
}

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
    for (const id of doomed) {
      // drop the manifest first, so a half-deleted folder is never listed as a backup
      rmSync(path.join(dir, id, 'manifest.json'), { force: true });
      rmSync(path.join(dir, id), { recursive: true, force: true });
      forgetVerified(dir, id);
    }
    run.info('retention', { deleted: doomed });
    return doomed;
  });
}
