// Retention as a pure decision: which backups to delete. Applied only after a
// new backup succeeded (the caller's job). The newest backup and the newest
// verified one are never deleted; with no policy nothing is.

export interface RetentionPolicy {
  keep_last?: number;
  max_age_days?: number;
}

/** What the decision needs of a backup (a catalog summary has these). */
export interface RetainedBackup {
  id: string;
  time: string;
  /** when it last passed verification */
  verified?: string;
}

/** ids to delete, oldest first. A backup is kept when it is among the keep_last newest OR younger than max_age_days. */
export function chooseDeletions(backups: RetainedBackup[], policy: RetentionPolicy, now: Date): string[] {
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
