// `status --format prometheus` and `status --textfile DIR`: the text
// exposition format node_exporter's textfile collector reads. Pure: the
// report in, text out; no timestamps (the collector stamps the scrape).
// Every family is a gauge with HELP and TYPE; every sample carries the
// stack's project and environment; a fact status could not get is left out
// rather than written as a made-up number.
import type { StatusReport, Level } from '../plan/status.js';
import { LEVEL_EXIT } from '../plan/status.js';

type Labels = Record<string, string>;

const escLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

export function sampleValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000);
}

class Families {
  private readonly out: string[] = [];
  constructor(private readonly base: Labels) {}

  gauge(name: string, help: string, samples: { labels?: Labels; value: number | undefined }[]): void {
    const present = samples.filter((s): s is { labels?: Labels; value: number } => s.value !== undefined);
    if (!present.length) return;
    this.out.push(`# HELP ${name} ${escHelp(help)}`, `# TYPE ${name} gauge`);
    const seen = new Set<string>();
    for (const s of present) {
      const labels = { ...this.base, ...s.labels };
      const text = Object.entries(labels)
        .map(([k, v]) => `${k}="${escLabel(v)}"`)
        .join(',');
      if (seen.has(text)) continue; // one sample per label set
      seen.add(text);
      this.out.push(`${name}{${text}} ${sampleValue(s.value)}`);
    }
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

const HEALTH_STATES = ['healthy', 'unhealthy', 'starting', 'none'] as const;
const level = (l: Level) => LEVEL_EXIT[l];

export function formatPrometheus(r: StatusReport): string {
  const f = r.facts;
  const now = Date.parse(r.time);
  const ageS = (iso: string | undefined) => (iso ? Math.max(0, (now - Date.parse(iso)) / 1000) : undefined);
  const ts = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);
  const m = new Families({ project: r.project, env: r.env });
  const one = (value: number | undefined) => [{ value }];

  m.gauge('lifeops_status', 'Overall status of the environment: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', one(level(r.level)));
  m.gauge('lifeops_status_duration_seconds', 'How long the status run took.', one(f.duration_ms / 1000));
  m.gauge('lifeops_engine_up', '1 when the Docker engine answered.', one(f.engine.ok ? 1 : 0));

  m.gauge('lifeops_service_up', '1 when the service has at least one running container.', r.services.map((s) => ({ labels: { service: s.service }, value: s.containers > 0 ? 1 : 0 })));
  m.gauge('lifeops_service_containers_running', 'Running containers of the service.', r.services.map((s) => ({ labels: { service: s.service }, value: s.containers })));
  m.gauge('lifeops_service_containers_expected', 'Containers the stack file asks for (replicas).', r.services.map((s) => ({ labels: { service: s.service }, value: s.expected })));
  m.gauge(
    'lifeops_service_health',
    "The service's Docker health state (one sample per state, 1 for the current one).",
    r.services.flatMap((s) => HEALTH_STATES.map((h) => ({ labels: { service: s.service, state: h }, value: s.health === h ? 1 : 0 }))),
  );
  m.gauge('lifeops_service_restarts', "Docker's restart count summed over the service's containers.", r.services.map((s) => ({ labels: { service: s.service }, value: s.restarts })));
  m.gauge('lifeops_service_status', 'Status of the service: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', r.services.map((s) => ({ labels: { service: s.service }, value: level(s.level) })));

  m.gauge('lifeops_check_status', 'Result of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', r.checks.map((c) => ({ labels: { check: c.check }, value: level(c.level) })));
  m.gauge('lifeops_check_duration_seconds', 'How long each check took.', r.checks.map((c) => ({ labels: { check: c.check }, value: c.duration_ms / 1000 })));

  m.gauge('lifeops_backups', 'Complete backups of the environment in its backup folder.', one(f.backups.error ? undefined : f.backups.count));
  m.gauge('lifeops_backup_last_age_seconds', 'Age of the newest complete backup.', one(ageS(f.backups.newest?.time)));
  m.gauge('lifeops_backup_last_timestamp_seconds', 'When the newest complete backup was taken (Unix time).', one(ts(f.backups.newest?.time)));
  m.gauge('lifeops_backup_last_size_bytes', 'Size of the newest complete backup.', one(f.backups.newest?.size));
  m.gauge('lifeops_backup_verified_last_age_seconds', 'Age of the newest backup that passed verification.', one(ageS(f.backups.newest_verified?.time)));
  m.gauge('lifeops_backup_verified_last_timestamp_seconds', 'When the newest verified backup was taken (Unix time).', one(ts(f.backups.newest_verified?.time)));

  m.gauge('lifeops_drill_last_success', '1 when the last restore drill passed, 0 when it failed.', one(f.drill ? (f.drill.ok ? 1 : 0) : undefined));
  m.gauge('lifeops_drill_last_age_seconds', 'Time since the last restore drill.', one(ageS(f.drill?.time)));

  m.gauge('lifeops_deploy_last_success', '1 when the last release was a successful deploy.', one(f.release ? (f.release.kind === 'deploy' && f.release.outcome === 'success' ? 1 : 0) : undefined));
  m.gauge('lifeops_deploy_last_timestamp_seconds', 'When the last deploy or rollback was recorded (Unix time).', one(ts(f.release?.time)));
  m.gauge('lifeops_deploy_last_info', 'The last release: kind, outcome and version (value 1).', f.release ? [{ labels: { kind: f.release.kind, outcome: f.release.outcome, version: f.release.version }, value: 1 }] : []);

  m.gauge('lifeops_lock_held', '1 when a deploy/backup lock of the environment is held.', one(f.lock.held ? 1 : 0));
  m.gauge('lifeops_lock_held_seconds', 'How long the lock has been held (0 when free).', one(f.lock.held ? (ageS(f.lock.since) ?? 0) : 0));

  // seconds, the base unit promtool insists on (days left = value / 86400)
  m.gauge('lifeops_tls_cert_expiry_seconds', "Time until the front's certificate for the domain expires (negative: expired); days = value / 86400.", f.tls.map((t) => ({ labels: { domain: t.domain }, value: t.not_after ? (Date.parse(t.not_after) - now) / 1000 : undefined })));
  m.gauge('lifeops_tls_cert_not_after_timestamp_seconds', "When the front's certificate for the domain expires (Unix time).", f.tls.map((t) => ({ labels: { domain: t.domain }, value: ts(t.not_after) })));
  m.gauge('lifeops_tls_cert_name_match', '1 when the certificate the front serves for the domain covers it.', f.tls.map((t) => ({ labels: { domain: t.domain }, value: t.name_match === undefined ? undefined : t.name_match ? 1 : 0 })));
  m.gauge('lifeops_tls_renewal_last_success', "front.tls.acme: 1 when the last attempt to obtain or renew the domain's certificate succeeded.", f.tls.filter((t) => t.last_attempt).map((t) => ({ labels: { domain: t.domain }, value: t.last_attempt!.ok ? 1 : 0 })));

  m.gauge('lifeops_disk_free_bytes', 'Free bytes on the file system (for unprivileged users) where backups or Docker data live.', f.disks.map((d) => ({ labels: { what: d.label, path: d.path }, value: d.free_bytes })));
  m.gauge('lifeops_disk_size_bytes', 'Size of that file system.', f.disks.map((d) => ({ labels: { what: d.label, path: d.path }, value: d.size_bytes })));

  if (f.front && !f.front.skipped) m.gauge('lifeops_front_ready', "1 when the app's readiness path answered 2xx through the front's published port.", one(!f.front.error && f.front.status !== undefined && f.front.status >= 200 && f.front.status < 300 ? 1 : 0));
  if (f.maintenance) {
    m.gauge('lifeops_maintenance', '1 while maintenance mode is on (the nginx front answers 503 but for the health paths).', one(f.maintenance.on ? 1 : 0));
    m.gauge('lifeops_maintenance_since_timestamp_seconds', 'When maintenance mode was turned on (Unix time).', one(f.maintenance.on ? ts(f.maintenance.since) : undefined));
  }
  if (f.pitr) {
    const a = f.pitr.archiver;
    m.gauge('lifeops_wal_archived_last_age_seconds', "Time since Postgres last archived a WAL segment (pg_stat_archiver.last_archived_time).", one(ageS(a?.last_archived_time)));
    m.gauge('lifeops_wal_archive_newest_age_seconds', 'Age of the newest segment in the WAL archive (when it was archived).', one(ageS(f.pitr.newest?.time)));
    m.gauge('lifeops_wal_archive_waiting_segments', 'Finished WAL segments not archived yet.', one(a?.waiting));
    m.gauge('lifeops_wal_archive_waiting_oldest_age_seconds', 'How long the oldest segment not archived yet has waited (0 when none waits): the archiving lag.', one(a ? (a.oldest_waiting_since ? ageS(a.oldest_waiting_since) : 0) : undefined));
    m.gauge('lifeops_wal_archive_failures', 'Failed archive_command runs since the server started (pg_stat_archiver.failed_count).', one(a?.failed_count));
    m.gauge('lifeops_wal_archive_gap', '1 when a WAL segment is missing from the archive after the oldest base backup.', one(a ? (f.pitr.gap ? 1 : 0) : undefined));
    m.gauge('lifeops_wal_base_backups', 'Backups holding a base backup for point-in-time recovery.', one(f.pitr.base_backups));
    const off = f.pitr.offsite ?? [];
    m.gauge('lifeops_wal_offsite_newest_age_seconds', 'Age of the newest WAL segment in the off-site repository (when the server archived it).', off.filter((o) => o.newest).map((o) => ({ labels: { repo: o.repo }, value: ageS(o.newest!.time)! })));
    m.gauge('lifeops_wal_offsite_waiting_segments', 'Archived WAL segments not copied to the off-site repository yet.', off.filter((o) => o.waiting !== undefined).map((o) => ({ labels: { repo: o.repo }, value: o.waiting! })));
    m.gauge('lifeops_wal_offsite_waiting_oldest_age_seconds', 'How long the oldest archived segment not off-site yet has waited (0 when none waits): the off-site lag.', off.filter((o) => o.waiting !== undefined).map((o) => ({ labels: { repo: o.repo }, value: o.oldest_waiting_since ? ageS(o.oldest_waiting_since)! : 0 })));
  }
  return m.text();
}
