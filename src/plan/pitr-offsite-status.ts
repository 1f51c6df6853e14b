// `status` on the WAL archive's off-site copy, per repository: how long the
// segments archived here have waited for it (against backup.pitr.offsite.lag),
// the newest segment off-site and the last commit it holds, the last push.
// An archive that is caught up is OK however old its newest segment is (an
// idle database writes none); when the archive cannot be read, the age of the
// newest off-site segment is judged instead. Pure.
import { formatDuration } from '../util/units.js';

// the shapes of plan/status.ts's Level and Check, restated: status.ts imports this file
type Level = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
type Check = { check: string; level: Level; message: string; duration_ms: number };

export interface WalOffsiteFact {
  repo: string;
  /** the newest segment off-site and when the server archived it */
  newest?: { name: string; time: string };
  reachable_until?: string;
  pushed_at?: string;
  last_attempt?: { time: string; ok: boolean; error?: string };
  /** segments in the archive here that are not off-site yet (absent: the archive could not be read) */
  waiting?: number;
  oldest_waiting_since?: string;
  warn_s: number;
  crit_s: number;
}

const RANK: Record<Level, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };
const worse = (a: Level, b: Level): Level => (RANK[b] > RANK[a] ? b : a);
const ageS = (now: Date, iso: string) => Math.max(0, now.getTime() - Date.parse(iso)) / 1000;
const ago = (now: Date, iso: string) => `${formatDuration(ageS(now, iso) * 1000)} ago`;

export function walOffsiteCheck(f: WalOffsiteFact, now: Date): Check {
  const limits = `lag limits: warn ${formatDuration(f.warn_s * 1000)}, crit ${formatDuration(f.crit_s * 1000)}`;
  const byAge = (iso: string): Level => {
    const s = ageS(now, iso);
    return s >= f.crit_s ? 'CRITICAL' : s >= f.warn_s ? 'WARNING' : 'OK';
  };
  let level: Level = 'OK';
  const parts: string[] = [];
  if (f.newest) parts.push(`newest segment off-site ${f.newest.name}, archived ${ago(now, f.newest.time)}${f.reachable_until ? `, its last commit ${f.reachable_until}` : ''}; pushed ${ago(now, f.pushed_at!)}`);
  else parts.push('no WAL off-site yet (`lifeops offsite push`)');
  if (f.waiting === undefined) {
    level = f.newest ? byAge(f.newest.time) : 'WARNING';
    parts.push(`the archive here could not be read: judged by the newest off-site segment's age (${limits})`);
  } else if (f.waiting > 0 && f.oldest_waiting_since) {
    level = byAge(f.oldest_waiting_since);
    parts.push(`${f.waiting} segment${f.waiting > 1 ? 's' : ''} not off-site yet, the oldest archived ${ago(now, f.oldest_waiting_since)} (${limits})`);
  } else parts.push('caught up with the archive');
  if (f.last_attempt && !f.last_attempt.ok) {
    level = worse(level, 'WARNING');
    parts.push(`last push FAILED ${ago(now, f.last_attempt.time)}: ${f.last_attempt.error ?? 'no detail'}`);
  }
  return { check: `wal off-site ${f.repo}`, level, message: parts.join('; '), duration_ms: 0 };
}
