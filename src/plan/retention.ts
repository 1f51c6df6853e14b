// Retention as a pure decision: which backups to delete. Applied only after a
// new backup succeeded (the caller's job). The newest backup and the newest
// verified one are never deleted; with no policy nothing is. A pinned backup
// (the last one before `down --volumes` deleted the data) is kept until a
// newer backup has verified: until then it may be the only good copy.

export interface RetentionPolicy {
  keep_last?: number;
  max_age_days?: number;
  /** the newest backup of each of the N newest days (UTC) that have one */
  keep_daily?: number;
  /** ... of each of the N newest ISO weeks */
  keep_weekly?: number;
  /** ... of each of the N newest months */
  keep_monthly?: number;
}

type Generation = 'keep_daily' | 'keep_weekly' | 'keep_monthly';

/** The calendar bucket a backup time falls in, per generation (UTC): 2026-12-07, 2026-W49, 2026-12. */
export function generationKey(kind: Generation, time: string): string {
  const d = new Date(time);
  if (kind === 'keep_daily') return d.toISOString().slice(0, 10);
  if (kind === 'keep_monthly') return d.toISOString().slice(0, 7);
  // ISO week: numbered by its Thursday (Monday first), in the Thursday's year
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  t.setUTCDate(t.getUTCDate() - ((t.getUTCDay() + 6) % 7) + 3);
  const week = 1 + Math.floor((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000 / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const GENERATIONS: Generation[] = ['keep_daily', 'keep_weekly', 'keep_monthly'];
const hasPolicy = (p: RetentionPolicy) => [p.keep_last, p.max_age_days, ...GENERATIONS.map((g) => p[g])].some((v) => v !== undefined);

/** What the decision needs of a backup (a catalog summary has these). */
export interface RetainedBackup {
  id: string;
  time: string;
  /** when it last passed verification */
  verified?: string;
  /** why it is pinned (see backup/catalog.ts pinBackup) */
  pinned?: string;
}

const newer = (a: RetainedBackup, b: RetainedBackup) => a.time > b.time || (a.time === b.time && a.id > b.id);

/** Pinned backups that a newer verified backup has released: retention may treat them like any other. */
export function releasedPins(backups: RetainedBackup[]): string[] {
  return backups.filter((b) => b.pinned && backups.some((o) => o.verified && newer(o, b))).map((b) => b.id);
}

/**
 * ids to delete, oldest first. A backup is kept when it is among the
 * keep_last newest, OR younger than max_age_days, OR the newest of one of
 * the keep_daily newest days (keep_weekly weeks, keep_monthly months).
 */
export function chooseDeletions(backups: RetainedBackup[], policy: RetentionPolicy, now: Date): string[] {
  if (!hasPolicy(policy)) return [];
  const newestFirst = [...backups].sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id));
  const keep = new Set<string>();
  if (newestFirst[0]) keep.add(newestFirst[0].id);
  const newestVerified = newestFirst.find((b) => b.verified);
  if (newestVerified) keep.add(newestVerified.id);
  const released = new Set(releasedPins(backups));
  for (const b of backups) if (b.pinned && !released.has(b.id)) keep.add(b.id);
  newestFirst.forEach((b, i) => {
    const byCount = policy.keep_last !== undefined && i < policy.keep_last;
    const byAge = policy.max_age_days !== undefined && now.getTime() - Date.parse(b.time) <= policy.max_age_days * 86_400_000;
    if (byCount || byAge) keep.add(b.id);
  });
  for (const g of GENERATIONS) {
    const n = policy[g];
    if (!n) continue;
    const seen = new Set<string>();
    for (const b of newestFirst) {
      const k = generationKey(g, b.time);
      if (seen.has(k)) continue;
      if (seen.size >= n) break;
      seen.add(k);
      keep.add(b.id);
    }
  }
  return newestFirst.filter((b) => !keep.has(b.id)).map((b) => b.id).reverse();
}
