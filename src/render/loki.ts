// Logs: Loki's config (with retention: the image's default keeps logs forever)
// and promtail's (every container of this compose project, labelled by its
// compose service). Pure like every renderer.
//   loki/loki.yml          mounted at /etc/loki/lifeops/
//   promtail/promtail.yml  mounted at /etc/promtail/lifeops/
// There is no Loki or promtail validator among this host's packages, so the
// shape follows the 2.9 configuration reference and is checked by tests.
import type { Monitoring, Stack } from '../config/schema.js';
import { toYaml } from './yaml.js';
import { fileHeader } from './header.js';
import { MON } from '../config/monitoring.js';

export const LOKI_CONF_DIR = '/etc/loki/lifeops';
export const PROMTAIL_CONF_DIR = '/etc/promtail/lifeops';
const LOKI_DATA = '/loki';

export function lokiConfig(mon: Monitoring): Record<string, unknown> {
  return {
    auth_enabled: false,
    server: { http_listen_port: MON.loki.port, log_level: 'warn' },
    common: {
      path_prefix: LOKI_DATA,
      storage: { filesystem: { chunks_directory: `${LOKI_DATA}/chunks`, rules_directory: `${LOKI_DATA}/rules` } },
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
    },
    // the image's own schema, so a Loki that ran on the default config keeps reading its data
    schema_config: {
      configs: [{ from: '2020-10-24', store: 'boltdb-shipper', object_store: 'filesystem', schema: 'v11', index: { prefix: 'index_', period: '24h' } }],
    },
    // retention is applied by the compactor; the period is a whole number of 24h index tables
    compactor: {
      working_directory: `${LOKI_DATA}/compactor`,
      shared_store: 'filesystem',
      compaction_interval: '10m',
      retention_enabled: true,
      retention_delete_delay: '2h',
    },
    limits_config: { retention_period: `${mon.log_retention_days * 24}h` },
    analytics: { reporting_enabled: false },
  };
}

export function promtailConfig(stack: Stack): Record<string, unknown> {
  return {
    server: { http_listen_port: MON.promtail.port, grpc_listen_port: 0, log_level: 'warn' },
    positions: { filename: '/var/lib/promtail/positions.yaml' },
    clients: [{ url: `http://${MON.loki.service}:${MON.loki.port}/loki/api/v1/push` }],
    scrape_configs: [
      {
        job_name: 'containers',
        // read through the Docker API, only this project's containers
        docker_sd_configs: [
          { host: 'unix:///var/run/docker.sock', refresh_interval: '15s', filters: [{ name: 'label', values: [`com.docker.compose.project=${stack.project}`] }] },
        ],
        relabel_configs: [
          // {service="<stack>-<compose service>"}, the name the seed's queries use
          { source_labels: ['__meta_docker_container_label_com_docker_compose_service'], target_label: 'service', replacement: `${stack.name}-$1` },
          { source_labels: ['__meta_docker_container_name'], regex: '/(.*)', target_label: 'container' },
          { source_labels: ['__meta_docker_container_log_stream'], target_label: 'stream' },
          { target_label: 'environment', replacement: stack.env },
        ],
      },
    ],
  };
}

export function renderLogs(stack: Stack, mon: Monitoring): { path: string; content: string }[] {
  const files: { path: string; content: string }[] = [];
  if (mon.exporters.includes('loki')) {
    const what = `Loki configuration for stack ${stack.name}: logs are kept ${mon.log_retention_days} days (monitoring.log_retention_days).`;
    files.push({ path: 'loki/loki.yml', content: toYaml(lokiConfig(mon), fileHeader(stack, what)) });
  }
  if (mon.exporters.includes('promtail')) {
    const what = `promtail configuration for stack ${stack.name}: ships the logs of every container of project ${stack.project} to Loki.`;
    files.push({ path: 'promtail/promtail.yml', content: toYaml(promtailConfig(stack), fileHeader(stack, what)) });
  }
  return files;
}
