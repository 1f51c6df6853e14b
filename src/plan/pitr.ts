// Point-in-time recovery, the deciding parts: the target time as the user
// wrote it, the names of WAL segments, gaps in the archive, the recoverable
// range, the base backup to start from, and the recovery settings. Pure.
import { UsageError } from '../errors.js';
import type { ArchivedFile, BaseRef } from '../commands/pitr.js';

// ------------------------------------------------------------------ the target

const TARGET = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
export const TARGET_FORMS = '"2026-12-07 10:31:05" (UTC), "2026-12-07T10:31:05Z", or with an offset "2026-12-07T11:31:05+01:00"';

/**
 * `--to` as a Date. The forms: "YYYY-MM-DD HH:MM[:SS[.ffffff]]" or the same
 * with a "T"; a time without an offset is UTC (the database's own log_timezone
 * and lifeops' logs are UTC), "Z" or "+HH:MM" / "-HHMM" say otherwise.
 */
export function parseTargetTime(text: string): Date {
  const m = TARGET.exec(text.trim());
  if (!m) throw new UsageError(`--to "${text}" is not a time lifeops reads; valid: ${TARGET_FORMS}`);
  const [, y, mo, d, h, mi, s = '00', frac = '', zone = 'Z'] = m;
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), frac ? Math.floor(Number(`0${frac}`) * 1000) : 0) - offsetMin * 60_000;
  const back = new Date(ms + offsetMin * 60_000);
  // Date.UTC rolls 2026-02-30 over into March: refuse instead
  if (Number.isNaN(ms) || back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new UsageError(`--to "${text}" is not a valid date and time; valid: ${TARGET_FORMS}`);
  }
  return new Date(ms);
}

/** A time as Postgres' recovery_target_time takes it: UTC with microseconds. */
export function pgTimestamp(t: Date): string {
  return `${t.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

// ------------------------------------------------------------------ segments

export interface Segment {
  timeline: number;
  /** position in the WAL: log * segmentsPerLog + seg */
  index: number;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
export const isSegmentName = (name: string): boolean => SEGMENT.test(name);

/** 000000010000000200000003 → timeline 1, index 2*perLog + 3. perLog is 2^32 / wal_segment_size (256 for 16 MB). */
export function parseSegment(name: string, perLog: number): Segment | undefined {
  const m = SEGMENT.exec(name);
  if (!m) return undefined;
  return { timeline: parseInt(m[1], 16), index: parseInt(m[2], 16) * perLog + parseInt(m[3], 16) };
}

export function segmentName(timeline: number, index: number, perLog: number): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(Math.floor(index / perLog)) + hex(index % perLog);
}

/** Segments per log id for a segment size in bytes (wal_segment_size). */
export const segmentsPerLog = (segmentBytes: number): number => Math.max(1, Math.round(0x1_0000_0000 / segmentBytes));

export interface ArchiveGap {
  /** the first missing segment (timeline of the segment before it) */
  first_missing: string;
  missing: number;
  /** WAL before the gap replays; after it nothing does: recovery ends at the gap */
  recoverable_until?: string;
}

/**
 * Segments missing between `from` (a base backup's first segment) and the
 * newest one archived. A new timeline (after a rollback) continues the
 * numbering of the one before, so positions are compared whatever the
 * timeline. Undefined when nothing is missing.
 */
export function archiveGap(files: ArchivedFile[], from: string): ArchiveGap | undefined {
  const segs = files.filter((f) => isSegmentName(f.name));
  if (!segs.length) return { first_missing: from, missing: 1 };
  const perLog = segmentsPerLog(Math.max(...segs.map((f) => f.size)));
  const start = parseSegment(from, perLog)!;
  const byIndex = new Map<number, ArchivedFile>();
  for (const f of segs) {
    const s = parseSegment(f.name, perLog)!;
    if (s.index >= start.index) byIndex.set(s.index, f);
  }
  const newest = Math.max(start.index, ...byIndex.keys());
  for (let i = start.index; i <= newest; i++) {
    if (byIndex.has(i)) continue;
    let j = i;
    while (j <= newest && !byIndex.has(j)) j++;
    const before = byIndex.get(i - 1);
    const tl = before ? parseSegment(before.name, perLog)!.timeline : start.timeline;
    return { first_missing: segmentName(tl, i, perLog), missing: j - i, ...(before ? { recoverable_until: new Date(before.mtime * 1000).toISOString() } : {}) };
  }
  return undefined;
}

/** When the newest segment was archived (ISO), or undefined for an empty archive. */
export function newestArchived(files: ArchivedFile[]): ArchivedFile | undefined {
  return files.filter((f) => isSegmentName(f.name)).sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name)).at(-1);
}

// ------------------------------------------------------------------ base backups and the range

export interface Range {
  from: string;
  to: string;
}

/**
 * What `rollback --to` can reach: from the oldest base backup's end to the
 * newest archived segment, or to `reachable` (the last commit known to be
 * archived) when given, or to the segment before the first gap.
 */
export function recoverableRange(bases: BaseRef[], files: ArchivedFile[], reachable?: string): Range | undefined {
  const newest = newestArchived(files);
  if (!bases.length || !newest) return undefined;
  const oldest = [...bases].sort((a, b) => a.end_time.localeCompare(b.end_time))[0];
  const gap = archiveGap(files, oldest.start_wal);
  const to = gap?.recoverable_until ?? reachable ?? new Date(newest.mtime * 1000).toISOString();
  return { from: oldest.end_time, to };
}

/**
 * The base backup to start from: the newest that ended at or before the
 * target. Refused (exit 2, naming the range) when the target is outside
 * what the base backups and the archive cover.
 */
export function pickBase(bases: BaseRef[], files: ArchivedFile[], target: Date, reachable?: string): { base: BaseRef; range: Range } {
  const range = recoverableRange(bases, files, reachable);
  const t = target.toISOString();
  if (!range) {
    throw new UsageError(
      bases.length ? 'the WAL archive is empty: nothing to replay' : 'no backup holds a base backup yet (backup.pitr takes one with each `lifeops backup`)',
      'lifeops backup, then roll back to a time after it',
    );
  }
  if (t < range.from || t > range.to) {
    throw new UsageError(`${t} is outside the recoverable range ${range.from} .. ${range.to} (oldest base backup .. newest archived WAL)`, 'give a time in that range (UTC unless it carries an offset)');
  }
  const base = [...bases].sort((a, b) => b.end_time.localeCompare(a.end_time)).find((b) => b.end_time <= t)!;
  return { base, range };
}

/** The lines `rollback --to` appends to postgresql.auto.conf (with recovery.signal beside). */
/**
 * `timeline`: the live server's, so recovery follows the history the database
 * has now; without it the newest timeline in the archive, which may be one an
 * undone rollback promoted and then abandoned (its WAL lacks what was written since).
 */
export function recoverySettings(target: Date, restoreCommand: string, timeline?: number): string {
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return [
    '# lifeops rollback --to: removed again once the server is promoted',
    `restore_command = ${q(restoreCommand)}`,
    `recovery_target_time = ${q(pgTimestamp(target))}`,
    "recovery_target_action = 'promote'",
    `recovery_target_timeline = '${timeline ?? 'latest'}'`,
    '',
  ].join('\n');
}

/** The settings the recovery added, reset once the server is promoted. */
export const RECOVERY_KEYS = ['restore_command', 'recovery_target_time', 'recovery_target_action', 'recovery_target_timeline'];
