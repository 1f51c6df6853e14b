// The monitoring stack, rendered only when `monitoring.enabled`:
//   docker-compose.monitoring.yml        compose override (pass after docker-compose.yml)
//   prometheus/prometheus.yml            + prometheus/rules/{alerts,recording}.yml
//   alertmanager/alertmanager.yml        secrets read from ./alertmanager/secrets/*
//   grafana/provisioning/...             data sources, dashboard provider, overview dashboard
//   loki/loki.yml, promtail/promtail.yml when those exporters are on (loki.ts)
// Pure and deterministic like every renderer; structured files go through toYaml.
import path from 'node:path';
import type { Monitoring, Stack } from '../config/schema.js';
import { BACKEND_NETWORK, ownerLabels, serviceNetworks } from './compose.js';
import { mapImage } from '../config/images.js';
import { composeValue } from './values.js';
import { toYaml } from './yaml.js';
import { traefikLabels } from './traefik.js';
import { LOKI_CONF_DIR, PROMTAIL_CONF_DIR, renderLogs } from './loki.js';
import { MON, exportersOf, monitoringOf, type Exporter } from '../config/monitoring.js';
import { renderAlertRules, renderPrometheusConfig, renderRecordingRules } from './prometheus.js';
import { alertmanagerSecretFiles, renderAlertmanagerConfig, ALERTMANAGER_SECRETS_DIR } from './alertmanager.js';
import { GRAFANA_PROVISIONING, renderGrafana } from './grafana.js';
import type { RenderContext, RenderedFile } from './types.js';

export const MONITORING_COMPOSE_FILE = 'docker-compose.monitoring.yml';

/**
 * The monitoring services whose mounted configuration is reloaded in place by
 * deploy (plan/monitoring.ts), so their compose definition carries no digest
 * of those files (render/index.ts labelConfigFiles): a changed rule keeps the
 * container, its alerts' pending state and its scrape history running.
 */
export const RELOADED_IN_PLACE: readonly string[] = [MON.prometheus.service, MON.alertmanager.service];

/** Official images of the monitoring stack (pinned; the stack's image mapping applies). */
export const MONITORING_IMAGES = {
  prometheus: 'prom/prometheus:v2.53.0',
  alertmanager: 'prom/alertmanager:v0.27.0',
  grafana: 'grafana/grafana:10.4.2',
  statsd: 'prom/statsd-exporter:v0.26.1',
  cadvisor: 'gcr.io/cadvisor/cadvisor:v0.49.1',
  node: 'prom/node-exporter:v1.8.1',
  postgres: 'prometheuscommunity/postgres-exporter:v0.15.0',
  redis: 'oliver006/redis_exporter:v1.61.0',
  loki: 'grafana/loki:2.9.8',
  promtail: 'grafana/promtail:2.9.8',
  pgbouncer: 'prometheuscommunity/pgbouncer-exporter:v0.8.0',
  blackbox: 'prom/blackbox-exporter:v0.25.0',
} as const;

interface Spec {
  image: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  memory: string;
  cpus: string;
  extra?: Record<string, unknown>;
  /** Services this one must reach: it joins their networks too (a stack may put them on its own networks). */
  reaches?: string[];
}

/** default + backend, plus every network of the services named (once each, in order). */
function networksReaching(stack: Stack, names: string[]): string[] {
  const out = ['default', BACKEND_NETWORK];
  for (const n of names) {
    const svc = stack.services[n];
    if (!svc) continue;
    for (const net of serviceNetworks(stack, n, svc)) if (!out.includes(net)) out.push(net);
  }
  return out;
}

function service(stack: Stack, spec: Spec): Record<string, unknown> {
  const out: Record<string, unknown> = { image: mapImage(spec.image, stack.images) };
  if (spec.command) out.command = spec.command;
  if (spec.environment) out.environment = Object.fromEntries(Object.keys(spec.environment).sort().map((k) => [k, spec.environment![k]]));
  if (spec.ports?.length) out.ports = spec.ports;
  if (spec.volumes?.length) out.volumes = spec.volumes;
  Object.assign(out, spec.extra ?? {});
  out.restart = 'unless-stopped';
  out.networks = networksReaching(stack, spec.reaches ?? []);
  out.logging = { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } };
  out.deploy = { resources: { limits: { cpus: spec.cpus, memory: spec.memory } } };
  out.labels = { 'lifeops.stack': stack.name, 'lifeops.env': stack.env, 'lifeops.role': 'monitoring', ...ownerLabels(stack) };
  return out;
}

/** DATA_SOURCE_NAME for postgres-exporter; a secret password stays a ${VAR} reference. */
function postgresDsn(stack: Stack): string | undefined {
  const pg = stack.postgres;
  if (!pg) return undefined;
  const password = pg.password !== undefined ? composeValue(stack, 'postgres.password', pg.password, encodeURIComponent) : undefined;
  const auth = password !== undefined ? `${encodeURIComponent(pg.user)}:${password}` : encodeURIComponent(pg.user);
  return `postgresql://${auth}@${pg.service}:5432/${encodeURIComponent(pg.database)}?sslmode=disable`;
}

function exporterService(stack: Stack, e: Exporter): [string, Record<string, unknown>] | undefined {
  switch (e) {
    case 'statsd':
      return [MON.statsd.service, service(stack, { image: MONITORING_IMAGES.statsd, command: ['--statsd.listen-udp=:9125', '--statsd.listen-tcp=:9125', `--web.listen-address=:${MON.statsd.port}`], memory: '64m', cpus: '0.25' })];
    case 'cadvisor':
      return [MON.cadvisor.service, service(stack, {
        image: MONITORING_IMAGES.cadvisor,
        volumes: ['/:/rootfs:ro', '/var/run:/var/run:ro', '/sys:/sys:ro', '/var/lib/docker:/var/lib/docker:ro'],
        command: ['--docker_only=true', '--housekeeping_interval=15s'],
        memory: '256m', cpus: '0.5',
      })];
    case 'node':
      return [MON.node.service, service(stack, {
        image: MONITORING_IMAGES.node,
        command: ['--path.procfs=/host/proc', '--path.sysfs=/host/sys', '--path.rootfs=/rootfs', '--collector.filesystem.mount-points-exclude=^/(sys|proc|dev|host|etc)($$|/)'],
        volumes: ['/proc:/host/proc:ro', '/sys:/host/sys:ro', '/:/rootfs:ro'],
        memory: '64m', cpus: '0.25',
      })];
    case 'postgres': {
      const dsn = postgresDsn(stack);
      if (!dsn) return undefined;
      return [MON.postgres.service, service(stack, { image: MONITORING_IMAGES.postgres, environment: { DATA_SOURCE_NAME: dsn }, memory: '64m', cpus: '0.25', reaches: [stack.postgres!.service] })];
    }
    case 'redis': {
      const r = stack.redis;
      if (!r) return undefined;
      const env: Record<string, string> = { REDIS_ADDR: `redis://${r.service}:6379` };
      const pw = r.password !== undefined ? composeValue(stack, 'redis.password', r.password) : undefined;
      if (pw !== undefined) env.REDIS_PASSWORD = pw;
      return [MON.redis.service, service(stack, { image: MONITORING_IMAGES.redis, environment: env, memory: '64m', cpus: '0.25', reaches: [r.service] })];
    }
    case 'pgbouncer': {
      // the admin console (database "pgbouncer") as the stack's Postgres user, one of the rendered stats_users
      const pg = stack.postgres;
      const pb = stack.pgbouncer;
      if (!pg || !pb) return undefined;
      const password = pg.password !== undefined ? composeValue(stack, 'postgres.password', pg.password, encodeURIComponent) : undefined;
      const auth = password !== undefined ? `${encodeURIComponent(pg.user)}:${password}` : encodeURIComponent(pg.user);
      return [MON.pgbouncer.service, service(stack, {
        image: MONITORING_IMAGES.pgbouncer,
        // the connection string holds the password: the exporter's environment, never its argv
        environment: { PGBOUNCER_EXPORTER_CONNECTION_STRING: `postgres://${auth}@${pb.service}:${pb.listen_port}/pgbouncer?sslmode=disable` },
        command: [`--web.listen-address=:${MON.pgbouncer.port}`],
        memory: '64m', cpus: '0.25', reaches: [pb.service],
      })];
    }
    case 'blackbox':
      return [MON.blackbox.service, service(stack, { image: MONITORING_IMAGES.blackbox, command: ['--config.file=/etc/prometheus/blackbox.yml'], memory: '64m', cpus: '0.25' })];
    case 'loki':
      return [MON.loki.service, service(stack, {
        image: MONITORING_IMAGES.loki,
        command: [`-config.file=${LOKI_CONF_DIR}/loki.yml`],
        volumes: [`./loki:${LOKI_CONF_DIR}:ro`, 'loki-data:/loki'],
        memory: '512m', cpus: '0.5',
      })];
    case 'promtail':
      return [MON.promtail.service, service(stack, {
        image: MONITORING_IMAGES.promtail,
        command: [`-config.file=${PROMTAIL_CONF_DIR}/promtail.yml`],
        // container logs come through the Docker API (docker_sd_configs), positions survive restarts
        volumes: [`./promtail:${PROMTAIL_CONF_DIR}:ro`, '/var/run/docker.sock:/var/run/docker.sock:ro', 'promtail-positions:/var/lib/promtail'],
        memory: '128m', cpus: '0.25',
      })];
  }
}

export function monitoringCompose(stack: Stack, mon: Monitoring): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  const volumes = new Set<string>(['prometheus-data', 'alertmanager-data']);

  services[MON.prometheus.service] = service(stack, {
    image: MONITORING_IMAGES.prometheus,
    command: [
      '--config.file=/etc/prometheus/prometheus.yml',
      '--storage.tsdb.path=/prometheus',
      `--storage.tsdb.retention.time=${mon.retention}`,
      '--web.enable-lifecycle',
    ],
    ports: mon.prometheus_port !== undefined ? [`127.0.0.1:${mon.prometheus_port}:${MON.prometheus.port}`] : [],
    volumes: ['./prometheus:/etc/prometheus:ro', 'prometheus-data:/prometheus'],
    memory: '1024m', cpus: '1',
    // the web services it scrapes, wherever the stack put them
    reaches: Object.keys(stack.services).sort().filter((n) => stack.services[n].role === 'web' && stack.services[n].http),
  });
  services[MON.alertmanager.service] = service(stack, {
    image: MONITORING_IMAGES.alertmanager,
    command: ['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager'],
    volumes: ['./alertmanager:/etc/alertmanager:ro', `./alertmanager/secrets:${ALERTMANAGER_SECRETS_DIR}:ro`, 'alertmanager-data:/alertmanager'],
    memory: '128m', cpus: '0.25',
  });
  if (mon.grafana) {
    volumes.add('grafana-data');
    services[MON.grafana.service] = service(stack, {
      image: MONITORING_IMAGES.grafana,
      environment: {
        GF_SECURITY_ADMIN_USER: 'admin',
        GF_SECURITY_ADMIN_PASSWORD: '${GRAFANA_ADMIN_PASSWORD}',
        GF_USERS_ALLOW_SIGN_UP: 'false',
        GF_ANALYTICS_REPORTING_ENABLED: 'false',
      },
      volumes: [`./grafana/provisioning:${GRAFANA_PROVISIONING}:ro`, 'grafana-data:/var/lib/grafana'],
      memory: '256m', cpus: '0.5',
      extra: { depends_on: { [MON.prometheus.service]: { condition: 'service_started' } } },
    });
  }
  for (const e of exportersOf(mon)) {
    const s = exporterService(stack, e);
    if (!s) continue;
    services[s[0]] = s[1];
    if (e === 'loki') volumes.add('loki-data');
    if (e === 'promtail') volumes.add('promtail-positions');
  }
  // a Traefik front routes to these too (Grafana behind basic auth, in Command Center)
  for (const [name, labels] of Object.entries(traefikLabels(stack))) {
    const svc = services[name] as { labels: Record<string, string> } | undefined;
    if (svc) svc.labels = { ...svc.labels, ...labels };
  }
  return {
    services,
    networks: { default: {}, [BACKEND_NETWORK]: { internal: true } },
    volumes: Object.fromEntries([...volumes].sort().map((v) => [v, {}])),
  };
}

export function renderMonitoringCompose(stack: Stack, mon: Monitoring): string {
  const secrets = alertmanagerSecretFiles(mon);
  const lines = [
    `Monitoring override for stack ${stack.name}: pass after docker-compose.yml (-f docker-compose.yml -f ${MONITORING_COMPOSE_FILE}).`,
    `Rendered by lifeops from ${path.basename(stack.file)} (environment ${stack.env}). Do not edit: run \`lifeops render\`.`,
    `Project: ${stack.project}`,
    `./alertmanager/secrets is mounted at ${ALERTMANAGER_SECRETS_DIR}; lifeops deploy writes into it: ${secrets.length ? secrets.map((s) => `${s.file} (from ${s.from})`).join(', ') : 'nothing (no Slack webhook or PagerDuty key configured)'}.`,
  ];
  if (mon.grafana) lines.push('Grafana reads its admin password from ${GRAFANA_ADMIN_PASSWORD} in the environment.');
  return toYaml(monitoringCompose(stack, mon), lines.join('\n'));
}

/** Every monitoring file, or none when monitoring is off. */
export function renderMonitoring(stack: Stack, _ctx?: RenderContext): RenderedFile[] {
  const mon = monitoringOf(stack);
  if (!mon) return [];
  return [
    { path: MONITORING_COMPOSE_FILE, content: renderMonitoringCompose(stack, mon) },
    { path: 'prometheus/prometheus.yml', content: renderPrometheusConfig(stack, mon) },
    { path: 'prometheus/rules/alerts.yml', content: renderAlertRules(stack, mon) },
    { path: 'prometheus/rules/recording.yml', content: renderRecordingRules(stack) },
    { path: 'alertmanager/alertmanager.yml', content: renderAlertmanagerConfig(stack, mon) },
    ...(mon.grafana ? renderGrafana(stack, mon) : []),
    ...renderLogs(stack, mon),
  ];
}
