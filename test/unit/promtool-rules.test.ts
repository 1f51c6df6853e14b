// `promtool test rules` on the rendered alert and recording rules. The unit
// tests are generated from the stack's thresholds, so changing a threshold in
// the stack moves both the rule and the test data. For every alert: synthetic
// series above the threshold fire (after `for`), series below it stay silent,
// and the alert is not firing yet before `for` has passed. Comparisons are
// strict (> or <) as in the LifeOS seed (">5%", ">150", ">1000 messages"):
// for the integer thresholds a value exactly at the threshold stays silent too.
import { describe, expect, it, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Stack } from '../../src/config/schema.js';
import { renderMonitoring } from '../../src/render/monitoring.js';
import { toYaml } from '../../src/render/yaml.js';
import { parseDuration } from '../../src/util/units.js';
import { FULL_MONITORING, loadDemoWith, removeDir, tmpDir, writeFiles } from '../fixtures/rules/monitoring-stack.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

type Labels = Record<string, string>;
interface Series { series: string; values: string }
interface Case { name: string; input: Series[]; fires: Labels[] }

const num = (n: number) => String(Number(n.toPrecision(12)));
const sel = (metric: string, labels: Labels) => `${metric}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
const minutes = (d: string) => Math.max(1, Math.ceil(parseDuration(d) / 60_000));

/** Synthetic data for each alert, derived from the stack's thresholds. */
function cases(stack: Stack): Record<string, { forDur: string; above: Case; below: Case[] }> {
  const t = stack.monitoring!.thresholds;
  const N = 60; // samples at 1m: enough for every `for` used here plus the 5m rate windows
  const gauge = (v: number) => `${num(v)}x${N}`;
  const counter = (perMinute: number) => `0+${num(perMinute)}x${N}`;

  const web = { job: 'web', instance: 'web:8000' };
  const errorRate = (ratio: number): Series[] => {
    const total = 6000; // requests per minute
    return [
      { series: sel('http_requests_total', { ...web, status: '200' }), values: counter(total * (1 - ratio)) },
      { series: sel('http_requests_total', { ...web, status: '500' }), values: counter(total * ratio) },
    ];
  };
  // Buckets at t/2, 2t, +Inf: all requests in (t/2, 2t] gives p95 = 1.925t; all in (0, t/2] gives 0.475t.
  const lat = t.latency_p95_seconds;
  const latency = (slow: boolean): Series[] => [
    { series: sel('http_request_duration_seconds_bucket', { ...web, le: num(lat / 2) }), values: counter(slow ? 0 : 600) },
    { series: sel('http_request_duration_seconds_bucket', { ...web, le: num(lat * 2) }), values: counter(600) },
    { series: sel('http_request_duration_seconds_bucket', { ...web, le: '+Inf' }), values: counter(600) },
  ];
  const pgConns = (n: number): Series[] => {
    const active = Math.floor(n / 3);
    return [
      { series: sel('pg_stat_activity_count', { job: 'postgres-exporter', datname: 'demo', state: 'active' }), values: gauge(active) },
      { series: sel('pg_stat_activity_count', { job: 'postgres-exporter', datname: 'demo', state: 'idle' }), values: gauge(n - active) },
    ];
  };
  // "web" has a 2-CPU limit; "unlimited" has none (quota 0) and burns 4 CPUs: it must never fire.
  const cpu = (ratio: number): Series[] => [
    { series: sel('container_cpu_usage_seconds_total', { name: 'web' }), values: counter(60 * 2 * ratio) },
    { series: sel('container_spec_cpu_quota', { name: 'web' }), values: gauge(200000) },
    { series: sel('container_spec_cpu_period', { name: 'web' }), values: gauge(100000) },
    { series: sel('container_cpu_usage_seconds_total', { name: 'unlimited' }), values: counter(60 * 4) },
    { series: sel('container_spec_cpu_quota', { name: 'unlimited' }), values: gauge(0) },
    { series: sel('container_spec_cpu_period', { name: 'unlimited' }), values: gauge(100000) },
  ];
  const limit = 1024 ** 3;
  const mem = (ratio: number): Series[] => [
    { series: sel('container_memory_working_set_bytes', { name: 'web' }), values: gauge(Math.round(limit * ratio)) },
    { series: sel('container_spec_memory_limit_bytes', { name: 'web' }), values: gauge(limit) },
    { series: sel('container_memory_working_set_bytes', { name: 'unlimited' }), values: gauge(8 * limit) },
    { series: sel('container_spec_memory_limit_bytes', { name: 'unlimited' }), values: gauge(0) },
  ];
  const size = 100 * 1024 ** 3;
  const fsRoot = { job: 'node-exporter', instance: 'node-exporter:9100', device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' };
  const fsTmp = { job: 'node-exporter', instance: 'node-exporter:9100', device: 'tmpfs', fstype: 'tmpfs', mountpoint: '/run' };
  const disk = (freeRatio: number): Series[] => [
    { series: sel('node_filesystem_avail_bytes', fsRoot), values: gauge(Math.round(size * freeRatio)) },
    { series: sel('node_filesystem_size_bytes', fsRoot), values: gauge(size) },
    // A full tmpfs is not a disk: excluded by fstype.
    { series: sel('node_filesystem_avail_bytes', fsTmp), values: gauge(0) },
    { series: sel('node_filesystem_size_bytes', fsTmp), values: gauge(size) },
  ];
  const pgUp = { job: 'postgres-exporter', instance: 'postgres-exporter:9187' };
  const redisUp = { job: 'redis-exporter', instance: 'redis-exporter:9121' };

  return {
    WebDown: {
      forDur: t.web_down_for,
      above: { name: 'web target down', input: [{ series: sel('up', web), values: gauge(0) }, { series: sel('up', redisUp), values: gauge(1) }], fires: [web] },
      below: [{ name: 'web target up; a non-web target down', input: [{ series: sel('up', web), values: gauge(1) }, { series: sel('up', redisUp), values: gauge(0) }], fires: [] }],
    },
    PostgresDown: {
      forDur: t.database_down_for,
      above: { name: 'pg_up 0', input: [{ series: sel('pg_up', pgUp), values: gauge(0) }], fires: [pgUp] },
      below: [{ name: 'pg_up 1', input: [{ series: sel('pg_up', pgUp), values: gauge(1) }], fires: [] }],
    },
    RedisDown: {
      forDur: t.redis_down_for,
      above: { name: 'redis_up 0', input: [{ series: sel('redis_up', redisUp), values: gauge(0) }], fires: [redisUp] },
      below: [{ name: 'redis_up 1', input: [{ series: sel('redis_up', redisUp), values: gauge(1) }], fires: [] }],
    },
    HighErrorRate: {
      forDur: t.error_rate_for,
      above: { name: `5xx ratio ${num(t.error_rate_ratio * 1.2)}`, input: errorRate(Math.min(1, t.error_rate_ratio * 1.2)), fires: [{ job: 'web' }] },
      below: [{ name: `5xx ratio ${num(t.error_rate_ratio * 0.8)}`, input: errorRate(t.error_rate_ratio * 0.8), fires: [] }],
    },
    HighLatencyP95: {
      forDur: t.latency_for,
      above: { name: 'p95 above threshold', input: latency(true), fires: [{ job: 'web' }] },
      below: [{ name: 'p95 below threshold', input: latency(false), fires: [] }],
    },
    HighDatabaseConnections: {
      forDur: t.db_connections_for,
      above: { name: `${t.db_connections + 1} connections`, input: pgConns(t.db_connections + 1), fires: [{}] },
      below: [
        { name: `${t.db_connections} connections (at the threshold)`, input: pgConns(t.db_connections), fires: [] },
        { name: `${t.db_connections - 1} connections`, input: pgConns(t.db_connections - 1), fires: [] },
      ],
    },
    WorkerBacklog: {
      forDur: t.worker_backlog_for,
      above: { name: `${t.worker_backlog + 1} pending`, input: [{ series: sel('outbox_pending_messages', { job: 'worker' }), values: gauge(t.worker_backlog + 1) }], fires: [{}] },
      below: [
        { name: `${t.worker_backlog} pending (at the threshold)`, input: [{ series: sel('outbox_pending_messages', { job: 'worker' }), values: gauge(t.worker_backlog) }], fires: [] },
        { name: `${t.worker_backlog - 1} pending`, input: [{ series: sel('outbox_pending_messages', { job: 'worker' }), values: gauge(t.worker_backlog - 1) }], fires: [] },
      ],
    },
    ContainerHighCPU: {
      forDur: t.container_for,
      above: { name: `cpu ${num(t.container_cpu_ratio * 1.1)} of limit`, input: cpu(t.container_cpu_ratio * 1.1), fires: [{ name: 'web' }] },
      below: [{ name: `cpu ${num(t.container_cpu_ratio * 0.9)} of limit`, input: cpu(t.container_cpu_ratio * 0.9), fires: [] }],
    },
    ContainerHighMemory: {
      forDur: t.container_for,
      above: { name: `memory ${num(t.container_memory_ratio * 1.1)} of limit`, input: mem(t.container_memory_ratio * 1.1), fires: [{ name: 'web' }] },
      below: [{ name: `memory ${num(t.container_memory_ratio * 0.9)} of limit`, input: mem(t.container_memory_ratio * 0.9), fires: [] }],
    },
    DiskSpaceLow: {
      forDur: t.disk_for,
      above: { name: `${num(t.disk_free_ratio * 0.5)} free`, input: disk(t.disk_free_ratio * 0.5), fires: [fsRoot] },
      below: [{ name: `${num(Math.min(1, t.disk_free_ratio * 1.5))} free`, input: disk(Math.min(1, t.disk_free_ratio * 1.5)), fires: [] }],
    },
  };
}

/** `{{ $labels.x }}` expanded the way Prometheus does for the expected alert. */
const expand = (text: string, labels: Labels) => text.replace(/\{\{ \$labels\.([a-zA-Z_]+) \}\}/g, (_, k) => labels[k] ?? '');

interface RenderedRules {
  dir: string;
  alerts: Record<string, { expr: string; for: string; labels: Labels; annotations: Labels }>;
}

function renderRules(stack: Stack): RenderedRules {
  const dir = tmpDir('promtool');
  dirs.push(dir);
  writeFiles(dir, renderMonitoring(stack).filter((f) => f.path.startsWith('prometheus/')));
  const doc = parse(readFileSync(path.join(dir, 'prometheus/rules/alerts.yml'), 'utf8')) as any;
  const alerts = Object.fromEntries(doc.groups.flatMap((g: any) => g.rules).map((r: any) => [r.alert, r]));
  return { dir, alerts };
}

/** The promtool unit-test file for every alert (and a few recording rules). */
function unitTests(stack: Stack, rules: RenderedRules, mutate?: (tests: any[]) => void): string {
  const tests: any[] = [];
  for (const [alertname, c] of Object.entries(cases(stack))) {
    const rule = rules.alerts[alertname];
    expect(rule, `rendered alerts.yml has ${alertname}`).toBeDefined();
    expect(rule.for).toBe(c.forDur);
    const forMin = minutes(c.forDur);
    const evalFire = `${forMin + 10}m`; // rate windows filled, `for` long passed
    const expAlerts = (fires: Labels[]) =>
      fires.map((l) => {
        const labels = { ...l, ...rule.labels };
        return { exp_labels: labels, exp_annotations: { summary: expand(rule.annotations.summary, labels), description: expand(rule.annotations.description, labels) } };
      });
    tests.push({
      name: `${alertname}: fires (${c.above.name})`,
      interval: '1m',
      input_series: c.above.input,
      alert_rule_test: [
        // Before `for` has passed the alert is at most pending, never firing.
        { eval_time: `${Math.floor(forMin / 2)}m`, alertname, exp_alerts: [] },
        { eval_time: evalFire, alertname, exp_alerts: expAlerts(c.above.fires) },
      ],
    });
    for (const b of c.below) {
      tests.push({
        name: `${alertname}: silent (${b.name})`,
        interval: '1m',
        input_series: b.input,
        alert_rule_test: [{ eval_time: evalFire, alertname, exp_alerts: [] }, { eval_time: '55m', alertname, exp_alerts: [] }],
      });
    }
  }
  // Recording rules: 6000 requests/minute = 100/s, 5% of them 5xx (independent of thresholds).
  tests.push({
    name: 'recording rules: request rate and 5xx ratio',
    interval: '1m',
    input_series: [
      { series: 'http_requests_total{job="web",instance="web:8000",status="200"}', values: '0+5700x30' },
      { series: 'http_requests_total{job="web",instance="web:8000",status="500"}', values: '0+300x30' },
    ],
    promql_expr_test: [
      { expr: 'job:http_requests:rate5m', eval_time: '20m', exp_samples: [{ labels: 'job:http_requests:rate5m{job="web"}', value: 100 }] },
      { expr: 'job:http_requests_5xx:ratio_rate5m', eval_time: '20m', exp_samples: [{ labels: 'job:http_requests_5xx:ratio_rate5m{job="web"}', value: 0.05 }] },
    ],
  });
  mutate?.(tests);
  return toYaml({ rule_files: ['rules/alerts.yml', 'rules/recording.yml'], evaluation_interval: '1m', tests });
}

function promtoolTest(dir: string, content: string) {
  const file = path.join(dir, 'prometheus', 'alerts.test.yml');
  writeFileSync(file, content);
  return spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
}

const CUSTOM = `${FULL_MONITORING}  thresholds:
    web_down_for: 3m
    database_down_for: 2m
    error_rate_ratio: 0.1
    error_rate_for: 2m
    latency_p95_seconds: 0.25
    db_connections: 40
    worker_backlog: 200
    worker_backlog_for: 15m
    container_cpu_ratio: 0.5
    container_memory_ratio: 0.6
    disk_free_ratio: 0.2
`;

describe('promtool test rules on the rendered alert rules', () => {
  it('default thresholds (the seed numbers): each alert fires above its threshold and stays silent below', () => {
    const stack = loadDemoWith(FULL_MONITORING);
    const t = stack.monitoring!.thresholds;
    expect([t.error_rate_ratio, t.latency_p95_seconds, t.db_connections, t.worker_backlog, t.container_cpu_ratio, t.container_memory_ratio]).toEqual([0.05, 1, 150, 1000, 0.8, 0.8]);
    const rules = renderRules(stack);
    const r = promtoolTest(rules.dir, unitTests(stack, rules));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('custom thresholds from the stack move the rules and the tests together', () => {
    const stack = loadDemoWith(CUSTOM, 'production');
    const rules = renderRules(stack);
    expect(rules.alerts.HighErrorRate.expr).toMatch(/> 0\.1$/);
    expect(rules.alerts.HighDatabaseConnections.expr).toMatch(/> 40$/);
    expect(rules.alerts.WorkerBacklog.for).toBe('15m');
    expect(rules.alerts.WebDown.labels.environment).toBe('production');
    const r = promtoolTest(rules.dir, unitTests(stack, rules));
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('the default data does fire against stricter rules: thresholds are really applied', () => {
    // Render rules with the custom (lower) thresholds, but use the default-threshold data's
    // "silent" cases: 120 DB connections (below 150) is above 40, so promtool must report a failure.
    const strict = renderRules(loadDemoWith(CUSTOM));
    const defaults = loadDemoWith(FULL_MONITORING);
    const content = unitTests(defaults, { ...strict, alerts: Object.fromEntries(Object.entries(strict.alerts).map(([k, v]) => [k, { ...v, for: defaults.monitoring!.thresholds[forKey(k)] as string }])) });
    const r = promtoolTest(strict.dir, content);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/HighDatabaseConnections|WorkerBacklog/);
  });

  it('promtool reports a wrong expectation (the harness can fail)', () => {
    const stack = loadDemoWith(FULL_MONITORING);
    const rules = renderRules(stack);
    const content = unitTests(stack, rules, (tests) => {
      const silent = tests.find((t) => t.name.startsWith('WorkerBacklog: silent'));
      silent.alert_rule_test[0].exp_alerts = [{ exp_labels: { severity: 'warning' } }];
    });
    const r = promtoolTest(rules.dir, content);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('WorkerBacklog');
  });
});

function forKey(alert: string): keyof NonNullable<Stack['monitoring']>['thresholds'] {
  const map: Record<string, keyof NonNullable<Stack['monitoring']>['thresholds']> = {
    WebDown: 'web_down_for', PostgresDown: 'database_down_for', RedisDown: 'redis_down_for', HighErrorRate: 'error_rate_for',
    HighLatencyP95: 'latency_for', HighDatabaseConnections: 'db_connections_for', WorkerBacklog: 'worker_backlog_for',
    ContainerHighCPU: 'container_for', ContainerHighMemory: 'container_for', DiskSpaceLow: 'disk_for',
  };
  return map[alert];
}
