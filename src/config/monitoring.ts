// The monitoring stack's fixed facts: which services it adds and on which
// ports. Config needs them to check that a front may route to a monitoring
// service (load.ts); the renderers need them to wire compose, scrape jobs,
// data sources and log shipping alike. Pure data, no rendering here.
import type { Monitoring, Stack } from './schema.js';

/** Service names and ports of the monitoring stack (compose and scrape jobs agree on them). */
export const MON = {
  prometheus: { service: 'prometheus', port: 9090 },
  alertmanager: { service: 'alertmanager', port: 9093 },
  grafana: { service: 'grafana', port: 3000 },
  statsd: { service: 'statsd-exporter', port: 9102 },
  postgres: { service: 'postgres-exporter', port: 9187 },
  redis: { service: 'redis-exporter', port: 9121 },
  cadvisor: { service: 'cadvisor', port: 8080 },
  node: { service: 'node-exporter', port: 9100 },
  loki: { service: 'loki', port: 3100 },
  promtail: { service: 'promtail', port: 9080 },
  pgbouncer: { service: 'pgbouncer-exporter', port: 9127 },
  blackbox: { service: 'blackbox-exporter', port: 9115 },
} as const;

export type Exporter = Monitoring['exporters'][number];

export function monitoringOf(stack: Pick<Stack, 'monitoring'>): Monitoring | undefined {
  return stack.monitoring?.enabled ? stack.monitoring : undefined;
}

/** Exporters in a fixed order, whatever order the stack lists them in. */
export function exportersOf(mon: Monitoring): Exporter[] {
  const order: Exporter[] = ['statsd', 'cadvisor', 'node', 'postgres', 'redis', 'pgbouncer', 'blackbox', 'loki', 'promtail'];
  return order.filter((e) => mon.exporters.includes(e));
}

/** Names of the services the monitoring override adds (a front may route to them). */
export function monitoringServiceNames(mon: Monitoring): string[] {
  return [MON.prometheus.service, MON.alertmanager.service, ...(mon.grafana ? [MON.grafana.service] : []), ...exportersOf(mon).map((e) => MON[e].service)];
}
