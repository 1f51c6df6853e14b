// The WAL archive off-site, the deciding parts: what the host's mirror of the
// archive must fetch and drop, the last commit a segment holds (the newest
// instant a recovery from the off-site WAL can reach), the index pushed with
// the WAL, and which off-site base backup a `restore --from-offsite --to TIME`
// starts from (exit 2 outside what the off-site copies reach). Pure.
import { UsageError } from '../errors.js';
import type { ArchivedFile, BaseRef } from '../commands/pitr.js';
import { isArchiveName } from '../commands/pitr-offsite.js';
import { isSegmentName, recoverySettings, type Range } from './pitr.js';

/** The index pushed beside the segments (wal/lifeops-wal.json): what a new host reads before fetching anything. */
export const WAL_INDEX_FILE = 'lifeops-wal.json';

export interface WalIndex {
  format: 1;
  project: string;
  env: string;
  /** when this push was made */
  pushed_at: string;
  segments: number;
  oldest_segment?: string;
  /** the newest segment and when the server archived it */
  newest_segment?: { name: string; time: string };
  /** the last commit in the pushed WAL: a recovery can stop anywhere up to it */
  reachable_until?: string;
  /** the base backups known when this was pushed (each inside the backup of that id) */
  bases: BaseRef[];
}

/** Archive files the mirror lacks (to fetch) and mirror files the archive no longer has (pruned there: drop). */
export function mirrorPlan(archive: ArchivedFile[], mirror: string[]): { fetch: ArchivedFile[]; drop: string[] } {
  const wanted = archive.filter((f) => isArchiveName(f.name));
  const have = new Set(mirror);
  const names = new Set(wanted.map((f) => f.name));
  return { fetch: wanted.filter((f) => !have.has(f.name)), drop: mirror.filter((n) => isArchiveName(n) && !names.has(n)) };
}

/** Segment names, the furthest in the WAL first (a later timeline first at the same position). */
export function segmentsNewestFirst(names: string[]): string[] {
  return names.filter(isSegmentName).sort((a, b) => b.slice(8).localeCompare(a.slice(8)) || b.localeCompare(a));
}

const COMMIT = /desc: (?:COMMIT|ABORT) (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) UTC/g;

/** The last commit (or abort) time in pg_waldump's output (run with TZ=UTC), as ISO with microseconds cut to ms. */
export function lastCommitTime(waldump: string): string | undefined {
  let last: string | undefined;
  for (const m of waldump.matchAll(COMMIT)) last = `${m[1]}T${m[2]}`;
  if (!last) return undefined;
  const [whole, frac = ''] = last.split('.');
  // cut, never rounded up: a target after the last commit would run past the WAL's end
  return `${whole}.${frac.padEnd(3, '0').slice(0, 3)}Z`;
}

/** The index for the mirror as it is now. */
export function walIndex(o: { project: string; env: string; now: Date; files: ArchivedFile[]; reachable?: string; bases: BaseRef[] }): WalIndex {
  const segs = o.files.filter((f) => isSegmentName(f.name));
  const newest = segmentsNewestFirst(segs.map((f) => f.name))[0];
  const oldest = segmentsNewestFirst(segs.map((f) => f.name)).at(-1);
  const nf = segs.find((f) => f.name === newest);
  return {
    format: 1,
    project: o.project,
    env: o.env,
    pushed_at: o.now.toISOString(),
    segments: segs.length,
    ...(oldest ? { oldest_segment: oldest } : {}),
    ...(nf ? { newest_segment: { name: nf.name, time: new Date(nf.mtime * 1000).toISOString() } } : {}),
    ...(o.reachable ? { reachable_until: o.reachable } : {}),
    bases: [...o.bases].sort((a, b) => a.end_time.localeCompare(b.end_time)),
  };
}

/** What makes one push differ from the last: a new segment, a new reachable end, another set of base backups. */
export const indexKey = (i: WalIndex): string => JSON.stringify([i.newest_segment?.name, i.reachable_until, i.oldest_segment, i.bases.map((b) => b.id)]);

/**
 * The base backup `restore --from-offsite --to TARGET` starts from: the
 * newest one that ended at or before TARGET, has its copy in the repository
 * (`copies`: backup ids) and whose first segment the pushed WAL still holds.
 * Refused (exit 2) past the last pushed commit, naming it, or before the
 * oldest usable base backup's end, naming that.
 */
export function offsiteRecoveryPlan(index: WalIndex, copies: string[], target: Date, repo: string): { base: BaseRef; range: Range } {
  const usable = index.bases.filter((b) => copies.includes(b.id) && (!index.oldest_segment || b.start_wal.slice(8) >= index.oldest_segment.slice(8)));
  if (!usable.length) {
    throw new UsageError(`the off-site WAL in ${repo} (pushed ${index.pushed_at}) starts after every base backup copied there: nothing to replay it on`, 'restore --from-offsite latest without --to restores the newest backup as it was taken');
  }
  if (!index.reachable_until) {
    throw new UsageError(`the off-site WAL in ${repo} (pushed ${index.pushed_at}) holds no commit yet: no instant can be recovered from it`, 'restore --from-offsite latest without --to');
  }
  const range: Range = { from: usable[0].end_time, to: index.reachable_until };
  const t = target.toISOString();
  if (t > range.to) {
    throw new UsageError(
      `${t} is past the newest point the off-site WAL reaches: ${range.to} (its last commit; segment ${index.newest_segment?.name ?? '?'}, pushed ${index.pushed_at}); recoverable from the off-site copies: ${range.from} .. ${range.to}`,
      `give a time at or before ${range.to} (UTC unless it carries an offset)`,
    );
  }
  if (t < range.from) {
    throw new UsageError(`${t} is before the end of the oldest off-site base backup (${usable[0].id}, ended ${range.from}); recoverable from the off-site copies: ${range.from} .. ${range.to}`, `give a time in that range, or restore --from-offsite ${usable[0].id} without --to`);
  }
  const base = [...usable].reverse().find((b) => b.end_time <= t)!;
  return { base, range };
}

/**
 * The recovery settings for a replay of the off-site WAL. A target before
 * the range's end stops there. At the end itself (the last pushed commit, cut
 * to the millisecond, so that commit lies just after it) the whole WAL is
 * replayed: every pushed commit comes back, where a recovery to that instant
 * would stop just before the last one. `timeline`: that of the newest
 * segment pushed, the one the source server was writing; without it the
 * newest timeline in the archive, which may be one an undone `rollback --to`
 * promoted and abandoned.
 */
export function offsiteRecoverySettings(target: Date, rangeEnd: string, restoreCommand: string, timeline?: number): string {
  if (target.toISOString() < rangeEnd) return recoverySettings(target, restoreCommand, timeline);
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return ['# lifeops restore --from-offsite --to the end of the off-site WAL: removed again once the server is promoted', `restore_command = ${q(restoreCommand)}`, `recovery_target_timeline = '${timeline ?? 'latest'}'`, ''].join('\n');
}

/** The timeline a WAL segment's name belongs to (its first 8 hex digits); undefined for anything else. */
export const segmentTimeline = (name: string | undefined): number | undefined => (name && isSegmentName(name) ? parseInt(name.slice(0, 8), 16) : undefined);
