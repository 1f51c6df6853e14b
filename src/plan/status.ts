// What `status` concludes from what it saw. Pure: the flow (flows/status.ts)
// gathers the facts, this file turns them and the stack's thresholds into one
// level per check and an overall level; the formatters (cli/status-*.ts)
// print the result. A test drives every transition with hand-written facts
// and a fixed clock.
import type { StatusThresholds } from '../config/schema.js';
import { parseDuration, formatDuration } from '../util/units.js';
import { inChargeMessage, type StateRef } from './ownership.js';
import { offsiteCheck, type OffsiteFact } from './offsite-status.js';
import { walOffsiteCheck } from './pitr-offsite-status.js';
import { pitrCheck, type PitrFact } from './pitr-status.js';

export type Level = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export const LEVEL_EXIT: Record<Level, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };
const RANK: Record<Level, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };
export const worstLevel = (levels: Level[]): Level => levels.reduce<Level>((a, b) => (RANK[b] > RANK[a] ? b : a), 'OK');

/** One service as the engine showed it (flows/health.ts serviceStatuses, for `status` and `health-check` alike), plus what status adds: restart growth, the placeholder mark. */
export interface ServiceFact {
  service: string;
  level: Level;
  state: string;
  health: string;
  containers: number;
  expected: number;
  uptime_s?: number;
  image?: string;
  restarts: number;
  /** restarts since the previous status run (containers it saw too) */
  restarts_grown?: number;
  /** the image is the test bed's placeholder (testbed/images/placeholder): up, but not the real component */
  placeholder?: boolean;
  message: string;
}

/** A probe that already carries its level (HTTP endpoints, SELECT 1, PING, a probe that missed the deadline). */
export interface ProbeFact {
  check: string;
  level: Level;
  message: string;
  duration_ms: number;
}

export interface BackupFacts {
  count: number;
  newest?: { id: string; time: string; size: number };
  newest_verified?: { id: string; time: string; verified_at: string };
  error?: string;
  duration_ms: number;
}

export interface DrillFact {
  time: string;
  ok: boolean;
  backup?: string;
  error?: string;
}

export interface ReleaseFact {
  kind: 'deploy' | 'rollback';
  outcome: 'success' | 'failed' | 'rolled-back' | 'crashed';
  time: string;
  version: string;
  run_id: string;
}

export interface LockFact {
  held: boolean;
  since?: string;
  stale?: boolean;
  /** "pid N on HOST" (never the command line: it may hold values) */
  holder?: string;
}

export interface DiskFact {
  /** what lives there: backups or docker */
  label: 'backups' | 'docker';
  path: string;
  free_bytes?: number;
  size_bytes?: number;
  error?: string;
  duration_ms: number;
}

export interface TlsFact {
  domain: string;
  /** where the certificate was read: "served on 127.0.0.1:PORT (SNI name)", or the file in the front */
  file: string;
  source?: 'served' | 'file';
  not_after?: string;
  issuer?: string;
  /** the certificate covers the domain */
  name_match?: boolean;
  /** front.tls.acme: the last attempt to obtain or renew it */
  last_attempt?: { time: string; ok: boolean; failures: number; error?: string };
  /** front.tls.acme: no certificate yet (the domain is on HTTP), and why */
  pending?: string;
  error?: string;
  duration_ms: number;
}

export interface FrontFact {
  /** what was asked: http://127.0.0.1:PORT/PATH (Host: domain) */
  url: string;
  status?: number;
  error?: string;
  skipped?: string;
  /** the front container runs the test bed's placeholder image (it answers 200 to anything) */
  placeholder?: string;
  /** an nginx front's answer carried the header it sets on what an upstream answered (absent: not tellable, e.g. Traefik) */
  from_app?: boolean;
  duration_ms: number;
}

/** Maintenance mode of the nginx front (flows/maintenance.ts); absent for a stack without one. */
export interface MaintenanceFact {
  on: boolean;
  since?: string;
  message?: string;
  retry_after?: number;
  by?: string;
}

export interface StatusFacts {
  project: string;
  env: string;
  /** the clock of the run (ISO) */
  now: string;
  duration_ms: number;
  engine: { ok: boolean; error?: string; duration_ms: number };
  /** undefined when the engine did not answer */
  services?: ServiceFact[];
  probes: ProbeFact[];
  /** when the previous status run was (restart growth is measured since then) */
  previous_run?: string;
  /** since when backups and drills are due: the environment's first recorded deploy */
  due_since?: string;
  backups: BackupFacts;
  drill?: DrillFact;
  release?: ReleaseFact;
  lock: LockFact;
  disks: DiskFact[];
  tls: TlsFact[];
  front?: FrontFact;
  /** another state dir manages the containers (their lifeops.state label): this one's ledger says nothing about them */
  in_charge?: { owner: StateRef; self: StateRef };
  maintenance?: MaintenanceFact;
  /** one per backup.offsite repository */
  offsite?: OffsiteFact[];
  /** backup.pitr: the WAL archive */
  pitr?: PitrFact;
}

export interface Check {
  check: string;
  level: Level;
  message: string;
  duration_ms: number;
}

export interface StatusReport {
  project: string;
  env: string;
  time: string;
  level: Level;
  summary: string;
  services: ServiceFact[];
  checks: Check[];
  /** the thresholds in force, in seconds / fractions / days */
  limits: StatusLimits;
  facts: StatusFacts;
}

export interface AgeLimit {
  warn_s: number;
  crit_s: number;
}

export interface StatusLimits {
  backup: AgeLimit;
  verified_backup: AgeLimit;
  drill: AgeLimit;
  lock: AgeLimit;
  disk: { warn: number; crit: number };
  tls: { warn_days: number; crit_days: number };
}

export function statusLimits(t: StatusThresholds): StatusLimits {
  const age = (a: { warn: string; crit: string }): AgeLimit => ({ warn_s: parseDuration(a.warn) / 1000, crit_s: parseDuration(a.crit) / 1000 });
  return { backup: age(t.backup), verified_backup: age(t.verified_backup), drill: age(t.drill), lock: age(t.lock), disk: { ...t.disk }, tls: { ...t.tls } };
}

/**
 * The host port a service's `ports` entries publish a container port on, on
 * 127.0.0.1 (or all addresses): "127.0.0.1:8080:80" -> 8080. Undefined for a
 * port not published or published on any free host port ("127.0.0.1::80").
 */
export function configuredHostPort(ports: string[], containerPort: number): number | undefined {
  for (const p of ports) {
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+)?:)?(\d+)(?:\/tcp)?$/.exec(p);
    if (!m || Number(m[3]) !== containerPort || !m[2]) continue;
    if (m[1] && m[1] !== '127.0.0.1' && m[1] !== '0.0.0.0') continue;
    return Number(m[2]);
  }
  return undefined;
}

const ageS = (now: Date, iso: string) => Math.max(0, (now.getTime() - Date.parse(iso)) / 1000);
const ago = (s: number) => `${formatDuration(s * 1000)} ago`;

export function ageLevel(age_s: number, l: AgeLimit): Level {
  if (age_s >= l.crit_s) return 'CRITICAL';
  if (age_s >= l.warn_s) return 'WARNING';
  return 'OK';
}

const limitText = (l: AgeLimit) => `warn ${formatDuration(l.warn_s * 1000)}, crit ${formatDuration(l.crit_s * 1000)}`;

/** Something due since `due_since` that has not happened yet: its age is the time since then. */
function notYet(what: string, now: Date, dueSince: string | undefined, l: AgeLimit): { level: Level; message: string } {
  if (!dueSince) return { level: 'WARNING', message: `${what} yet, and no deploy recorded to measure from` };
  const age = ageS(now, dueSince);
  return { level: ageLevel(age, l), message: `${what} yet (first deploy ${ago(age)}; ${limitText(l)})` };
}

export function backupCheck(f: StatusFacts, l: StatusLimits, now: Date): Check {
  const b = f.backups;
  const base = { check: 'backup freshness', duration_ms: b.duration_ms };
  if (b.error) return { ...base, level: 'UNKNOWN', message: b.error };
  if (!b.newest) return { ...base, ...notYet('no backup', now, f.due_since, l.backup) };
  const age = ageS(now, b.newest.time);
  return { ...base, level: ageLevel(age, l.backup), message: `newest backup ${b.newest.id} taken ${ago(age)} (${limitText(l.backup)})` };
}

export function verifiedBackupCheck(f: StatusFacts, l: StatusLimits, now: Date): Check {
  const b = f.backups;
  const base = { check: 'verified backup', duration_ms: b.duration_ms };
  if (b.error) return { ...base, level: 'UNKNOWN', message: b.error };
  if (!b.newest_verified) return { ...base, ...notYet('no verified backup', now, f.due_since, l.verified_backup) };
  const age = ageS(now, b.newest_verified.time);
  return { ...base, level: ageLevel(age, l.verified_backup), message: `newest verified backup ${b.newest_verified.id} taken ${ago(age)} (${limitText(l.verified_backup)})` };
}

export function drillCheck(f: StatusFacts, l: StatusLimits, now: Date): Check {
  const base = { check: 'restore drill', duration_ms: 0 };
  const d = f.drill;
  if (!d) return { ...base, ...notYet('no restore drill (`lifeops backups verify --latest`)', now, f.due_since, l.drill) };
  const age = ageS(now, d.time);
  const byAge = ageLevel(age, l.drill);
  if (!d.ok) return { ...base, level: worstLevel([byAge, 'WARNING']), message: `last restore drill FAILED ${ago(age)}${d.backup ? ` on backup ${d.backup}` : ''}: ${d.error ?? 'no detail'}` };
  return { ...base, level: byAge, message: `last restore drill passed ${ago(age)}${d.backup ? ` on backup ${d.backup}` : ''} (${limitText(l.drill)})` };
}

export function deployCheck(f: StatusFacts, now: Date): Check {
  const base = { check: 'last deploy', duration_ms: 0 };
  const r = f.release;
  if (!r) return { ...base, level: 'OK', message: 'no deploy recorded' };
  const when = ago(ageS(now, r.time));
  if (r.kind === 'deploy' && r.outcome === 'success') return { ...base, level: 'OK', message: `deploy of ${r.version} succeeded ${when}` };
  if (r.outcome === 'crashed') return { ...base, level: 'WARNING', message: `the ${r.kind} of ${r.version} crashed ${when} (run ${r.run_id}; the next mutating run recovered or will recover what it left)` };
  if (r.kind === 'rollback') return { ...base, level: 'WARNING', message: `the last release is a rollback (${r.outcome}) ${when} to ${r.version}: deploy a fixed version` };
  return { ...base, level: 'WARNING', message: `deploy of ${r.version} ${r.outcome === 'failed' ? 'failed' : 'failed and was rolled back'} ${when} (run ${r.run_id}; see lifeops logs --run ${r.run_id})` };
}

export function lockCheck(f: StatusFacts, l: StatusLimits, now: Date): Check {
  const base = { check: 'lock', duration_ms: 0 };
  const k = f.lock;
  if (!k.held) return { ...base, level: 'OK', message: 'not held' };
  const age = k.since ? ageS(now, k.since) : 0;
  const byAge = ageLevel(age, l.lock);
  if (k.stale) return { ...base, level: worstLevel([byAge, 'WARNING']), message: `stale lock: ${k.holder ?? 'its holder'} is gone (held ${formatDuration(age * 1000)}); see lifeops lock status` };
  return { ...base, level: byAge, message: `held by ${k.holder ?? '?'} for ${formatDuration(age * 1000)} (${limitText(l.lock)})` };
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;

export function diskCheck(d: DiskFact, l: StatusLimits): Check {
  const base = { check: `disk ${d.label}`, duration_ms: d.duration_ms };
  if (d.error || d.free_bytes === undefined || !d.size_bytes) return { ...base, level: 'UNKNOWN', message: `${d.path}: ${d.error ?? 'no size'}` };
  const ratio = d.free_bytes / d.size_bytes;
  const level: Level = ratio < l.disk.crit ? 'CRITICAL' : ratio < l.disk.warn ? 'WARNING' : 'OK';
  return { ...base, level, message: `${gib(d.free_bytes)} free of ${gib(d.size_bytes)} (${(ratio * 100).toFixed(1)}%) at ${d.path}` };
}

export const tlsDaysLeft = (t: TlsFact, now: Date): number | undefined => (t.not_after ? (Date.parse(t.not_after) - now.getTime()) / 86_400_000 : undefined);

export function tlsCheck(t: TlsFact, l: StatusLimits, now: Date): Check {
  const base = { check: `tls ${t.domain}`, duration_ms: t.duration_ms };
  const days = tlsDaysLeft(t, now);
  const failed = t.last_attempt && !t.last_attempt.ok ? `; the last renewal attempt failed (${t.last_attempt.time}, ${t.last_attempt.failures} in a row): ${t.last_attempt.error ?? '?'}` : '';
  if (t.pending !== undefined) return { ...base, level: 'WARNING', message: `no certificate: served over HTTP only: ${t.pending}` };
  if (t.error || days === undefined) return { ...base, level: 'UNKNOWN', message: `${t.file}: ${t.error ?? 'no expiry date'}${failed}` };
  const from = `${t.issuer ? `, issuer ${t.issuer}` : ''}${t.source === 'served' ? `, ${t.file}` : ''}`;
  if (days <= 0) return { ...base, level: 'CRITICAL', message: `certificate expired ${formatDuration(-days * 86_400_000)} ago (${t.not_after}${from})${failed}` };
  if (t.name_match === false) return { ...base, level: 'CRITICAL', message: `the certificate does not cover ${t.domain} (${t.not_after}${from})` };
  let level: Level = days < l.tls.crit_days ? 'CRITICAL' : days < l.tls.warn_days ? 'WARNING' : 'OK';
  if (failed && level === 'OK') level = 'WARNING';
  return { ...base, level, message: `certificate expires in ${Math.floor(days)} day${Math.floor(days) === 1 ? '' : 's'} (${t.not_after}${from})${failed}` };
}

export function frontCheck(fr: FrontFact): Check {
  const base = { check: 'front readiness', duration_ms: fr.duration_ms };
  if (fr.skipped) return { ...base, level: 'OK', message: `skipped: ${fr.skipped}` };
  if (fr.error) return { ...base, level: 'CRITICAL', message: `${fr.url}: no answer through the front (${fr.error})` };
  if (fr.from_app === false) {
    return { ...base, level: 'CRITICAL', message: `${fr.url} answered ${fr.status}, but not from the app: the front's mark of an upstream answer is missing (a placeholder, a default server or a page of the front's own)` };
  }
  if (fr.status !== undefined && fr.status >= 200 && fr.status < 300 && fr.placeholder) {
    return { ...base, level: 'WARNING', message: `${fr.url} answered ${fr.status} from a PLACEHOLDER front (${fr.placeholder}): the path through the front is not tested` };
  }
  if (fr.status !== undefined && fr.status >= 200 && fr.status < 300) return { ...base, level: 'OK', message: `${fr.url} answered ${fr.status}` };
  return { ...base, level: 'CRITICAL', message: `${fr.url} answered ${fr.status}` };
}

/** Maintenance mode on: a WARNING (users get 503), with since when and the message; none when off. */
export function maintenanceCheck(m: MaintenanceFact, now: Date): Check {
  const since = m.since ? ` since ${m.since} (${ago(ageS(now, m.since))})` : '';
  return { check: 'maintenance', level: 'WARNING', duration_ms: 0, message: `maintenance mode is on${since}${m.by ? `, by ${m.by}` : ''}: the front answers 503 "${m.message ?? '?'}"; end it with lifeops maintenance off` };
}

/** The test bed's placeholder image (busybox httpd answering 200): stands in for images Debian lacks. */
export const isPlaceholderImage = (image?: string): boolean => !!image && /^lifeops\/placeholder(:|$)/.test(image);

function serviceLevel(s0: ServiceFact): ServiceFact {
  const s = isPlaceholderImage(s0.image) ? { ...s0, placeholder: true, message: s0.level === 'OK' ? 'PLACEHOLDER: a stand-in answering 200, not the real component' : `${s0.message} (PLACEHOLDER)` } : s0;
  if (!s.restarts_grown) return s;
  const level = worstLevel([s.level, 'WARNING']);
  const grown = `restarted ${s.restarts_grown} time${s.restarts_grown > 1 ? 's' : ''} since the last status run`;
  return { ...s, level, message: s.level === 'OK' ? grown : `${s.message}; ${grown}` };
}

function summarize(f: StatusFacts, level: Level, services: ServiceFact[], checks: Check[]): string {
  const bad = [
    ...services.filter((s) => s.level !== 'OK').map((s) => ({ level: s.level, text: `${s.service}: ${s.message}` })),
    ...checks.filter((c) => c.level !== 'OK').map((c) => ({ level: c.level, text: `${c.check}: ${c.message}` })),
  ].sort((a, b) => RANK[b.level] - RANK[a.level]);
  if (!bad.length) {
    const up = services.filter((s) => s.state === 'running').length;
    const ph = services.filter((s) => s.placeholder).length;
    return `${f.project}: ${up}/${services.length} services up${ph ? ` (${ph} PLACEHOLDER${ph > 1 ? 's' : ''})` : ''}, ${checks.length} checks OK`;
  }
  const shown = bad.slice(0, 3).map((b) => `${b.level} ${b.text.length > 120 ? `${b.text.slice(0, 117)}...` : b.text}`);
  return `${f.project}: ${shown.join('; ')}${bad.length > 3 ? `; and ${bad.length - 3} more` : ''}`;
}

/** Every check's level and the overall one, from the facts and the stack's thresholds. */
export function evaluateStatus(f: StatusFacts, thresholds: StatusThresholds): StatusReport {
  const now = new Date(f.now);
  const limits = statusLimits(thresholds);
  const services = (f.services ?? []).map(serviceLevel);
  const checks: Check[] = [];
  if (!f.engine.ok) checks.push({ check: 'docker engine', level: 'UNKNOWN', message: f.engine.error ?? 'not reachable', duration_ms: f.engine.duration_ms });
  checks.push(...f.probes);
  if (f.front) checks.push(frontCheck(f.front));
  if (f.maintenance?.on) checks.push(maintenanceCheck(f.maintenance, now));
  if (f.in_charge) checks.push({ check: 'state dir in charge', level: 'WARNING', message: inChargeMessage(f.in_charge.self, f.in_charge.owner), duration_ms: 0 }, lockCheck(f, limits, now));
  else checks.push(backupCheck(f, limits, now), verifiedBackupCheck(f, limits, now), drillCheck(f, limits, now), deployCheck(f, now), lockCheck(f, limits, now), ...(f.offsite ?? []).map((o) => offsiteCheck(o, now, f.due_since)), ...(f.pitr ? [pitrCheck(f.pitr, now)] : []), ...(f.pitr?.offsite ?? []).map((o) => walOffsiteCheck(o, now)));
  checks.push(...f.disks.map((d) => diskCheck(d, limits)));
  checks.push(...f.tls.map((t) => tlsCheck(t, limits, now)));
  const level = worstLevel([...services.map((s) => s.level), ...checks.map((c) => c.level)]);
  return { project: f.project, env: f.env, time: f.now, level, summary: summarize(f, level, services, checks), services, checks, limits, facts: f };
}
