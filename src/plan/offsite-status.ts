// `status` on the off-site copies: per repository, the age of the newest copy
// against that repository's freshness limits; a failed last copy attempt or a
// failed last `backups verify --offsite` is at least a WARNING. Pure.
import { formatDuration } from '../util/units.js';

// the shapes of plan/status.ts's Level and Check, restated: status.ts imports this file
type Level = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
type Check = { check: string; level: Level; message: string; duration_ms: number };

export interface OffsiteFact {
  repo: string;
  copies: number;
  newest?: { id: string; time: string };
  last_attempt?: { time: string; ok: boolean; error?: string };
  last_check?: { time: string; ok: boolean; subset: string; error?: string };
  warn_s: number;
  crit_s: number;
}

const RANK: Record<Level, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };
const worse = (a: Level, b: Level): Level => (RANK[b] > RANK[a] ? b : a);
const ago = (now: Date, iso: string) => `${formatDuration(Math.max(0, now.getTime() - Date.parse(iso)))} ago`;

export function offsiteCheck(f: OffsiteFact, now: Date, dueSince?: string): Check {
  const limits = `warn ${formatDuration(f.warn_s * 1000)}, crit ${formatDuration(f.crit_s * 1000)}`;
  const byAge = (iso: string): Level => {
    const s = (now.getTime() - Date.parse(iso)) / 1000;
    return s >= f.crit_s ? 'CRITICAL' : s >= f.warn_s ? 'WARNING' : 'OK';
  };
  let level: Level;
  const parts: string[] = [];
  if (f.newest) {
    level = byAge(f.newest.time);
    parts.push(`newest copy ${f.newest.id} made ${ago(now, f.newest.time)} (${limits})`);
  } else {
    level = dueSince ? worse('WARNING', byAge(dueSince)) : 'WARNING';
    parts.push(`no off-site copy yet (${limits})`);
  }
  if (f.last_attempt && !f.last_attempt.ok) {
    level = worse(level, 'WARNING');
    parts.push(`last copy attempt FAILED ${ago(now, f.last_attempt.time)}: ${f.last_attempt.error ?? 'no detail'}`);
  }
  if (f.last_check) {
    if (!f.last_check.ok) level = worse(level, 'WARNING');
    parts.push(`last check (subset ${f.last_check.subset}) ${f.last_check.ok ? 'passed' : `FAILED: ${f.last_check.error ?? 'no detail'}`} ${ago(now, f.last_check.time)}`);
  } else parts.push('never checked (`lifeops backups verify --offsite`)');
  return { check: `off-site ${f.repo}`, level, message: parts.join('; '), duration_ms: 0 };
}
