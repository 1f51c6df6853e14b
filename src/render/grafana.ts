// Grafana provisioning: data sources, the dashboard provider and the stack's
// overview dashboard (the LifeOS panels). The dashboard is JSON with a 2-space
// indent, stable panel ids and a fixed key order: same stack, same bytes.
import type { Monitoring, Stack } from '../config/schema.js';
import { toYaml } from './yaml.js';
import { fileHeader } from './header.js';
import { MON } from '../config/monitoring.js';

export const GRAFANA_PROVISIONING = '/etc/grafana/provisioning';
const PROM_DS = { type: 'prometheus', uid: 'prometheus' };

export function datasources(mon: Monitoring): Record<string, unknown> {
  const list: Record<string, unknown>[] = [
    {
      name: 'Prometheus',
      type: 'prometheus',
      uid: 'prometheus',
      access: 'proxy',
      url: `http://${MON.prometheus.service}:${MON.prometheus.port}`,
      isDefault: true,
      editable: false,
      jsonData: { timeInterval: mon.scrape_interval },
    },
    {
      name: 'Alertmanager',
      type: 'alertmanager',
      uid: 'alertmanager',
      access: 'proxy',
      url: `http://${MON.alertmanager.service}:${MON.alertmanager.port}`,
      editable: false,
      jsonData: { implementation: 'prometheus', handleGrafanaManagedAlerts: false },
    },
  ];
  if (mon.exporters.includes('loki')) {
    list.push({ name: 'Loki', type: 'loki', uid: 'loki', access: 'proxy', url: `http://${MON.loki.service}:${MON.loki.port}`, editable: false });
  }
  return { apiVersion: 1, datasources: list };
}

export function dashboardProviders(stack: Stack): Record<string, unknown> {
  return {
    apiVersion: 1,
    providers: [
      {
        name: `${stack.name}-dashboards`,
        orgId: 1,
        folder: stack.name,
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path: `${GRAFANA_PROVISIONING}/dashboards`, foldersFromFilesStructure: false },
      },
    ],
  };
}

interface PanelSpec {
  title: string;
  type: 'timeseries' | 'gauge' | 'stat';
  unit: string;
  targets: { expr: string; legendFormat: string }[];
  thresholds?: { value: number; color: string }[];
  min?: number;
  max?: number;
}

/** The nine LifeOS overview panels, in display order (id = position + 1). */
export function overviewPanels(mon: Monitoring): PanelSpec[] {
  const t = mon.thresholds;
  return [
    { title: 'Request Rate (5m)', type: 'timeseries', unit: 'reqps', targets: [{ expr: 'sum by (job, status) (rate(http_requests_total[5m]))', legendFormat: '{{job}} {{status}}' }] },
    {
      title: 'Response Time (p95, p99)', type: 'timeseries', unit: 's',
      targets: [
        { expr: 'histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))', legendFormat: 'p95 {{job}}' },
        { expr: 'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))', legendFormat: 'p99 {{job}}' },
      ],
      thresholds: [{ value: t.latency_p95_seconds, color: 'red' }],
    },
    {
      title: 'Error Rate (5xx, 4xx)', type: 'timeseries', unit: 'percentunit',
      targets: [
        { expr: 'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))', legendFormat: '5xx {{job}}' },
        { expr: 'sum by (job) (rate(http_requests_total{status=~"4.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))', legendFormat: '4xx {{job}}' },
      ],
      thresholds: [{ value: t.error_rate_ratio, color: 'red' }],
    },
    {
      title: 'Database Connections', type: 'gauge', unit: 'short', min: 0, max: Math.ceil(t.db_connections * 4 / 3),
      targets: [{ expr: 'sum(pg_stat_activity_count)', legendFormat: 'connections' }],
      thresholds: [{ value: Math.round(t.db_connections * 0.8), color: 'orange' }, { value: t.db_connections, color: 'red' }],
    },
    {
      title: 'Cache Hit Rate', type: 'gauge', unit: 'percentunit', min: 0, max: 1,
      targets: [{ expr: 'sum(rate(redis_keyspace_hits_total[5m])) / (sum(rate(redis_keyspace_hits_total[5m])) + sum(rate(redis_keyspace_misses_total[5m])))', legendFormat: 'hit rate' }],
    },
    {
      title: 'Outbox Messages Pending', type: 'stat', unit: 'short',
      targets: [{ expr: 'sum(outbox_pending_messages)', legendFormat: 'pending' }],
      thresholds: [{ value: t.worker_backlog, color: 'red' }],
    },
    {
      title: 'Container CPU', type: 'timeseries', unit: 'percentunit',
      targets: [{ expr: 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m]))', legendFormat: '{{name}}' }],
    },
    {
      title: 'Container Memory', type: 'timeseries', unit: 'bytes',
      targets: [{ expr: 'sum by (name) (container_memory_working_set_bytes{name!=""})', legendFormat: '{{name}}' }],
    },
    {
      title: 'Worker Processing Lag', type: 'timeseries', unit: 's',
      targets: [{ expr: 'max by (job) (worker_processing_lag_seconds)', legendFormat: '{{job}}' }],
    },
  ];
}

export function overviewDashboard(stack: Stack, mon: Monitoring): Record<string, unknown> {
  const panels = overviewPanels(mon).map((p, i) => {
    const steps = [{ color: 'green', value: null as number | null }, ...(p.thresholds ?? []).map((s) => ({ color: s.color, value: s.value }))];
    const defaults: Record<string, unknown> = { unit: p.unit, thresholds: { mode: 'absolute', steps } };
    if (p.min !== undefined) defaults.min = p.min;
    if (p.max !== undefined) defaults.max = p.max;
    return {
      id: i + 1,
      type: p.type,
      title: p.title,
      datasource: PROM_DS,
      gridPos: { h: 8, w: 8, x: (i % 3) * 8, y: Math.floor(i / 3) * 8 },
      fieldConfig: { defaults, overrides: [] },
      options: p.type === 'timeseries' ? { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } } : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
      targets: p.targets.map((tg, j) => ({ refId: String.fromCharCode(65 + j), datasource: PROM_DS, expr: tg.expr, legendFormat: tg.legendFormat })),
    };
  });
  return {
    uid: `${stack.name}-overview`.slice(0, 40),
    title: `${stack.name} overview`,
    tags: ['lifeops', stack.name],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    panels,
  };
}

export function renderGrafana(stack: Stack, mon: Monitoring): { path: string; content: string }[] {
  return [
    { path: 'grafana/provisioning/datasources/datasources.yml', content: toYaml(datasources(mon), fileHeader(stack, `Grafana data sources for stack ${stack.name}.`)) },
    { path: 'grafana/provisioning/dashboards/dashboards.yml', content: toYaml(dashboardProviders(stack), fileHeader(stack, `Grafana dashboard provider for stack ${stack.name}.`)) },
    { path: `grafana/provisioning/dashboards/${stack.name}-overview.json`, content: JSON.stringify(overviewDashboard(stack, mon), null, 2) + '\n' },
  ];
}
