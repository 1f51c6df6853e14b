// `status` on point-in-time recovery: is the archiver keeping up (the oldest
// segment waiting against backup.pitr.lag), is archive_command failing, how
// old is the newest archived segment, is there a gap after the oldest base
// backup, is there a base backup at all. Pure.
import { formatDuration } from '../util/units.js';
import type { ArchiveGap } from './pitr.js';
import type { ArchiverFact } from '../commands/pitr.js';
import type { WalOffsiteFact } from './pitr-offsite-status.js';

// the shapes of plan/status.ts's Level and Check, restated: status.ts imports this file
type Level = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
type Check = { check: string; level: Level; message: string; duration_ms: number };

export interface PitrFact {
  archiver?: ArchiverFact;
  /** the newest segment in the archive and when it was archived */
  newest?: { name: string; time: string };
  gap?: ArchiveGap;
  base_backups: number;
  error?: string;
  warn_s: number;
  crit_s: number;
  duration_ms: number;
  /** the archive's off-site copies (backup.offsite), one per repository */
  offsite?: WalOffsiteFact[];
}

const RANK: Record<Level, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };
const worse = (a: Level, b: Level): Level => (RANK[b] > RANK[a] ? b : a);
const ageMs = (now: Date, iso: string) => Math.max(0, now.getTime() - Date.parse(iso));
const ago = (now: Date, iso: string) => `${formatDuration(ageMs(now, iso))} ago`;

export function pitrCheck(f: PitrFact, now: Date): Check {
  const check = 'wal archive';
  if (f.error || !f.archiver) return { check, level: 'UNKNOWN', message: f.error ?? 'no answer from the archiver', duration_ms: f.duration_ms };
  const a = f.archiver;
  let level: Level = 'OK';
  const parts: string[] = [];
  parts.push(a.last_archived_wal && a.last_archived_time ? `last archived ${a.last_archived_wal} ${ago(now, a.last_archived_time)}` : 'nothing archived yet');
  if (a.waiting && a.oldest_waiting_since) {
    const s = ageMs(now, a.oldest_waiting_since) / 1000;
    level = s >= f.crit_s ? 'CRITICAL' : s >= f.warn_s ? 'WARNING' : 'OK';
    parts.push(`${a.waiting} segment${a.waiting > 1 ? 's' : ''} waiting, the oldest since ${ago(now, a.oldest_waiting_since)} (lag limits: warn ${formatDuration(f.warn_s * 1000)}, crit ${formatDuration(f.crit_s * 1000)})`);
  } else parts.push('none waiting');
  const failing = a.last_failed_time && (!a.last_archived_time || a.last_failed_time > a.last_archived_time);
  if (failing) {
    level = worse(level, 'WARNING');
    parts.push(`archive_command FAILING: last failure for ${a.last_failed_wal} ${ago(now, a.last_failed_time!)} (${a.failed_count} failures)`);
  } else if (a.failed_count) parts.push(`${a.failed_count} earlier failures`);
  if (f.newest) parts.push(`newest in the archive ${f.newest.name}, archived ${ago(now, f.newest.time)}`);
  if (f.gap) {
    level = worse(level, 'WARNING');
    parts.push(`GAP: ${f.gap.missing} segment${f.gap.missing > 1 ? 's' : ''} missing from ${f.gap.first_missing}${f.gap.recoverable_until ? ` (recovery reaches ${f.gap.recoverable_until} at most)` : ''}`);
  }
  if (!f.base_backups) {
    level = worse(level, 'WARNING');
    parts.push('no base backup yet (`lifeops backup` takes one): rollback --to has nothing to start from');
  } else parts.push(`${f.base_backups} base backup${f.base_backups > 1 ? 's' : ''}`);
  return { check, level, message: parts.join('; '), duration_ms: f.duration_ms };
}
