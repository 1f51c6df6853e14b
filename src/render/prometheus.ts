// Prometheus files for the monitoring stack: prometheus.yml, alert rules and
// recording rules. Pure functions of the resolved stack; every file is a typed
// object serialised with toYaml, so output is byte-identical for equal input.
// Validated by `promtool check config`, `promtool check rules` and
// `promtool test rules` (test/promtool-rules.test.ts).
import type { Monitoring, Stack } from '../config/schema.js';
import { toYaml } from './yaml.js';
import { fileHeader } from './header.js';
import { MON, exportersOf, type Exporter } from '../config/monitoring.js';
import { httpHost } from './hostnames.js';

export const RULE_FILES = ['rules/alerts.yml', 'rules/recording.yml'];

/** Jobs scraped per exporter (promtail ships logs, it is not scraped). */
const EXPORTER_JOBS: Partial<Record<Exporter, { job: string; service: string; port: number }>> = {
  statsd: { job: 'statsd-exporter', ...MON.statsd },
  postgres: { job: 'postgres-exporter', ...MON.postgres },
  redis: { job: 'redis-exporter', ...MON.redis },
  cadvisor: { job: 'cadvisor', ...MON.cadvisor },
  node: { job: 'node-exporter', ...MON.node },
  loki: { job: 'loki', ...MON.loki },
  pgbouncer: { job: 'pgbouncer-exporter', ...MON.pgbouncer },
  blackbox: { job: 'blackbox-exporter', ...MON.blackbox },
};

// A fresh object per job: a shared one would be serialised as a YAML anchor/alias.
const dropGoGc = () => [{ source_labels: ['__name__'], regex: 'go_gc_.*', action: 'drop' }];

export function prometheusConfig(stack: Stack, mon: Monitoring): Record<string, unknown> {
  const externalLabels: Record<string, string> = { environment: stack.env, stack: stack.name };
  for (const k of Object.keys(mon.external_labels).sort()) externalLabels[k] = mon.external_labels[k];

  const job = (name: string, targets: string[], extra: Record<string, unknown> = {}) => ({
    job_name: name,
    ...extra,
    static_configs: [{ targets }],
    metric_relabel_configs: dropGoGc(),
  });

  const jobs: Record<string, unknown>[] = [job('prometheus', [`localhost:${MON.prometheus.port}`])];
  // One job per web service with an http block: WebDown matches up{job=~"web.*"}.
  // Targets use the host name an HTTP server accepts (web_prod -> its alias web-prod).
  for (const name of Object.keys(stack.services).sort()) {
    const svc = stack.services[name];
    if (svc.role !== 'web' || !svc.http) continue;
    jobs.push(job(name === 'web' ? 'web' : `web-${name}`, [`${httpHost(name)}:${svc.http.port}`], { metrics_path: '/metrics' }));
  }
  for (const e of exportersOf(mon)) {
    const j = EXPORTER_JOBS[e];
    if (j) jobs.push(job(j.job, [`${j.service}:${j.port}`]));
  }
  if (mon.exporters.includes('blackbox')) {
    // the blackbox exporter probes each web service's health path from inside the stack's network
    const probes = Object.keys(stack.services).sort().flatMap((name) => {
      const svc = stack.services[name];
      return svc.role === 'web' && svc.http ? [`http://${httpHost(name)}:${svc.http.port}${svc.http.health}`] : [];
    });
    if (probes.length) {
      jobs.push(job('blackbox-http', probes, {
        metrics_path: '/probe',
        params: { module: ['http_2xx'] },
        relabel_configs: [
          { source_labels: ['__address__'], target_label: '__param_target' },
          { source_labels: ['__param_target'], target_label: 'instance' },
          { target_label: '__address__', replacement: `${MON.blackbox.service}:${MON.blackbox.port}` },
        ],
      }));
    }
  }
  if (mon.docker_daemon_metrics) jobs.push(job('docker', [mon.docker_daemon_metrics]));

  return {
    global: {
      scrape_interval: mon.scrape_interval,
      evaluation_interval: mon.evaluation_interval,
      external_labels: externalLabels,
    },
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`${MON.alertmanager.service}:${MON.alertmanager.port}`] }] }] },
    rule_files: RULE_FILES,
    scrape_configs: jobs,
  };
}

export function renderPrometheusConfig(stack: Stack, mon: Monitoring): string {
  return toYaml(prometheusConfig(stack, mon), fileHeader(stack, `Prometheus configuration for stack ${stack.name}. Retention is set on the command line (docker-compose.monitoring.yml).`));
}

/** A number as PromQL writes it (no exponent noise for the usual thresholds). */
export function promNumber(n: number): string {
  return String(Number(n.toPrecision(12)));
}

interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}

/**
 * The alert rules. Every alert carries `severity`, `environment` and `family`
 * (what it is about: web, database, redis, worker, container, disk); the
 * Alertmanager inhibit rule lets a critical alert mute warnings of its family.
 */
export function alertRules(stack: Stack, mon: Monitoring): { critical: AlertRule[]; warning: AlertRule[] } {
  const t = mon.thresholds;
  const rule = (alert: string, severity: 'critical' | 'warning', family: string, expr: string, forDur: string, summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: forDur,
    labels: { severity, environment: stack.env, family },
    annotations: { summary, description },
  });
  const pct = (r: number) => `${promNumber(r * 100)}%`;
  const critical = [
    rule('WebDown', 'critical', 'web', 'up{job=~"web.*"} == 0', t.web_down_for,
      'Web target {{ $labels.instance }} is down',
      `Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}) for ${t.web_down_for}.`),
    rule('PostgresDown', 'critical', 'database', 'pg_up == 0', t.database_down_for,
      'PostgreSQL is down',
      `postgres-exporter cannot reach PostgreSQL (instance {{ $labels.instance }}) for ${t.database_down_for}.`),
    rule('RedisDown', 'critical', 'redis', 'redis_up == 0', t.redis_down_for,
      'Redis is down',
      `redis-exporter cannot reach Redis (instance {{ $labels.instance }}) for ${t.redis_down_for}.`),
  ];
  const warning = [
    rule('HighErrorRate', 'warning', 'web',
      `sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m])) > ${promNumber(t.error_rate_ratio)}`,
      t.error_rate_for,
      'High 5xx error rate on {{ $labels.job }}',
      `More than ${pct(t.error_rate_ratio)} of requests to {{ $labels.job }} answered 5xx for ${t.error_rate_for}.`),
    rule('HighLatencyP95', 'warning', 'web',
      `histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m]))) > ${promNumber(t.latency_p95_seconds)}`,
      t.latency_for,
      'High p95 latency on {{ $labels.job }}',
      `The 95th percentile response time of {{ $labels.job }} is above ${promNumber(t.latency_p95_seconds)}s for ${t.latency_for}.`),
    rule('HighDatabaseConnections', 'warning', 'database',
      `sum(pg_stat_activity_count) > ${promNumber(t.db_connections)}`,
      t.db_connections_for,
      'Too many PostgreSQL connections',
      `More than ${promNumber(t.db_connections)} PostgreSQL connections for ${t.db_connections_for}.`),
    rule('WorkerBacklog', 'warning', 'worker',
      `sum(outbox_pending_messages) > ${promNumber(t.worker_backlog)}`,
      t.worker_backlog_for,
      'Worker backlog is growing',
      `More than ${promNumber(t.worker_backlog)} outbox messages pending for ${t.worker_backlog_for}.`),
    // Containers without a limit report quota/limit 0: "> 0" drops them, so no division by zero.
    rule('ContainerHighCPU', 'warning', 'container',
      `sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m])) / on (name) (sum by (name) (container_spec_cpu_quota{name!=""} > 0) / sum by (name) (container_spec_cpu_period{name!=""})) > ${promNumber(t.container_cpu_ratio)}`,
      t.container_for,
      'Container {{ $labels.name }} uses most of its CPU limit',
      `Container {{ $labels.name }} uses more than ${pct(t.container_cpu_ratio)} of its CPU limit for ${t.container_for}.`),
    rule('ContainerHighMemory', 'warning', 'container',
      `sum by (name) (container_memory_working_set_bytes{name!=""}) / on (name) sum by (name) (container_spec_memory_limit_bytes{name!=""} > 0) > ${promNumber(t.container_memory_ratio)}`,
      t.container_for,
      'Container {{ $labels.name }} uses most of its memory limit',
      `Container {{ $labels.name }} uses more than ${pct(t.container_memory_ratio)} of its memory limit for ${t.container_for}.`),
    rule('DiskSpaceLow', 'warning', 'disk',
      `node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"} < ${promNumber(t.disk_free_ratio)}`,
      t.disk_for,
      'Disk space low on {{ $labels.instance }} {{ $labels.mountpoint }}',
      `Less than ${pct(t.disk_free_ratio)} free on {{ $labels.mountpoint }} ({{ $labels.instance }}) for ${t.disk_for}.`),
  ];
  return { critical, warning };
}

export function renderAlertRules(stack: Stack, mon: Monitoring): string {
  const { critical, warning } = alertRules(stack, mon);
  const doc = {
    groups: [
      { name: `${stack.name}-critical`, rules: critical },
      { name: `${stack.name}-warning`, rules: warning },
    ],
  };
  return toYaml(doc, fileHeader(stack, `Alert rules for stack ${stack.name}: critical pages, warning goes to Slack.`));
}

export function recordingRules(): { record: string; expr: string }[] {
  return [
    { record: 'job_status:http_requests:rate5m', expr: 'sum by (job, status) (rate(http_requests_total[5m]))' },
    { record: 'job:http_requests:rate5m', expr: 'sum by (job) (rate(http_requests_total[5m]))' },
    { record: 'job:http_requests_5xx:ratio_rate5m', expr: 'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))' },
    { record: 'job:http_requests_4xx:ratio_rate5m', expr: 'sum by (job) (rate(http_requests_total{status=~"4.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))' },
    { record: 'job:http_request_duration_seconds:p95_5m', expr: 'histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))' },
    { record: 'job:http_request_duration_seconds:p99_5m', expr: 'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))' },
    { record: 'instance:pg_stat_activity_count:sum', expr: 'sum by (instance) (pg_stat_activity_count)' },
    { record: 'instance_state:pg_stat_activity_count:sum', expr: 'sum by (instance, state) (pg_stat_activity_count)' },
    { record: 'datname:pg_stat_activity_count:sum', expr: 'sum by (datname) (pg_stat_activity_count)' },
    { record: 'name:container_cpu_usage_seconds:rate5m', expr: 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m]))' },
    { record: 'name:container_memory_working_set_bytes:sum', expr: 'sum by (name) (container_memory_working_set_bytes{name!=""})' },
    { record: 'name:container_cpu_limit:ratio', expr: 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m])) / on (name) (sum by (name) (container_spec_cpu_quota{name!=""} > 0) / sum by (name) (container_spec_cpu_period{name!=""}))' },
    { record: 'name:container_memory_limit:ratio', expr: 'sum by (name) (container_memory_working_set_bytes{name!=""}) / on (name) sum by (name) (container_spec_memory_limit_bytes{name!=""} > 0)' },
  ];
}

export function renderRecordingRules(stack: Stack): string {
  return toYaml(
    { groups: [{ name: `${stack.name}-recording`, rules: recordingRules() }] },
    fileHeader(stack, `Recording rules for stack ${stack.name} (used by the Grafana dashboard).`),
  );
}
