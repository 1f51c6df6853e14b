// `status --format nagios`: the monitoring-plugins output, so the command
// runs as-is under NRPE, check_by_ssh or Icinga. Pure: the report in, text
// out. The first line is `LEVEL: summary | perfdata`, the lines after it the
// long text (one per service and check); perfdata items are
// 'label'=value[UOM];warn;crit;min;max with the guideline's ranges: "N"
// alerts above N, "N:" below N, "U" is a value that could not be had.
import type { StatusReport, Level, AgeLimit } from '../plan/status.js';
import { tlsDaysLeft } from '../plan/status.js';

/** Text in plugin output never holds "|" (it starts perfdata) and is one line. */
const clean = (s: string) => s.replace(/\|/g, '/').replace(/[\r\n]+/g, ' ').trim();

/** Labels are quoted; inside them only [A-Za-z0-9_.-] (no quote, no "="). */
const label = (s: string) => `'${s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '')}'`;

/** A number as the guideline wants it: plain decimal, no exponent, at most 3 decimals. */
export function perfNumber(n: number): string {
  if (!Number.isFinite(n)) return 'U';
  const r = Math.round(n * 1000) / 1000;
  return Number.isInteger(r) ? r.toFixed(0) : r.toFixed(3).replace(/0+$/, '');
}

interface Perf {
  label: string;
  value: number | undefined;
  uom?: '' | 's' | 'B' | 'c' | '%';
  warn?: string;
  crit?: string;
  min?: number;
  max?: number;
}

export function perfItem(p: Perf): string {
  const value = p.value === undefined || !Number.isFinite(p.value) ? 'U' : `${perfNumber(p.value)}${p.uom ?? ''}`;
  const fields = [p.warn ?? '', p.crit ?? '', p.min === undefined ? '' : perfNumber(p.min), p.max === undefined ? '' : perfNumber(p.max)];
  while (fields.length && fields[fields.length - 1] === '') fields.pop();
  return `${label(p.label)}=${value}${fields.length ? ';' + fields.join(';') : ''}`;
}

const ageS = (now: number, iso: string | undefined) => (iso ? Math.max(0, (now - Date.parse(iso)) / 1000) : undefined);

function perfdata(r: StatusReport): string[] {
  const f = r.facts;
  const now = Date.parse(r.time);
  const age = (l: string, iso: string | undefined, lim: AgeLimit): Perf => ({ label: l, value: ageS(now, iso), uom: 's', warn: perfNumber(lim.warn_s), crit: perfNumber(lim.crit_s), min: 0 });
  const out: Perf[] = [
    { label: 'services_running', value: r.services.filter((s) => s.state === 'running').length, min: 0, max: r.services.length },
    ...r.services.map((s): Perf => ({ label: `restarts_${s.service}`, value: s.restarts, uom: 'c', min: 0 })),
    age('backup_age', f.backups.newest?.time, r.limits.backup),
    { label: 'backup_size', value: f.backups.newest?.size, uom: 'B', min: 0 },
    age('verified_backup_age', f.backups.newest_verified?.time, r.limits.verified_backup),
    age('drill_age', f.drill?.time, r.limits.drill),
    { label: 'drill_ok', value: f.drill ? (f.drill.ok ? 1 : 0) : undefined, warn: '1:', min: 0, max: 1 },
    { ...age('lock_held', f.lock.since, r.limits.lock), value: f.lock.held ? (ageS(now, f.lock.since) ?? 0) : 0 },
    ...f.disks.map((d): Perf => ({
      label: `disk_free_${d.label}`,
      value: d.free_bytes,
      uom: 'B',
      ...(d.size_bytes ? { warn: `${Math.floor(d.size_bytes * r.limits.disk.warn)}:`, crit: `${Math.floor(d.size_bytes * r.limits.disk.crit)}:` } : {}),
      min: 0,
      ...(d.size_bytes ? { max: d.size_bytes } : {}),
    })),
    ...f.tls.map((t): Perf => {
      const days = tlsDaysLeft(t, new Date(now));
      return { label: `tls_days_${t.domain}`, value: days === undefined ? undefined : Math.floor(days), warn: `${r.limits.tls.warn_days}:`, crit: `${r.limits.tls.crit_days}:` };
    }),
    ...(f.front && !f.front.skipped ? [{ label: 'front_time', value: f.front.error ? undefined : f.front.duration_ms / 1000, uom: 's' as const, min: 0 }] : []),
    { label: 'time', value: f.duration_ms / 1000, uom: 's', min: 0 },
  ];
  return out.map(perfItem);
}

const LEVEL_ORDER: Record<Level, number> = { CRITICAL: 0, UNKNOWN: 1, WARNING: 2, OK: 3 };

/** The whole plugin output, ending in a newline; the caller exits with LEVEL_EXIT[report.level]. */
export function formatNagios(r: StatusReport): string {
  const first = `${r.level}: ${clean(r.summary)} | ${perfdata(r).join(' ')}`;
  const lines = [
    ...r.services.map((s) => ({ level: s.level, text: `service ${s.service}: ${s.state}, health ${s.health}, ${s.containers}/${s.expected} running, ${s.restarts} restarts${s.level !== 'OK' ? ` (${s.message})` : ''}` })),
    ...r.checks.map((c) => ({ level: c.level, text: `${c.check}: ${c.message}` })),
  ]
    .map((l, i) => ({ ...l, i }))
    .sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] || a.i - b.i)
    .map((l) => `${l.level} ${clean(l.text)}`);
  return [first, ...lines].join('\n') + '\n';
}
