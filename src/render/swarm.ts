// The stack file for `docker stack deploy`, made from the compose file the
// same stack renders for one host (so both targets run the same services,
// images, health checks and variables) plus what a Swarm needs:
//   - deploy: replicas, update_config (start-first for stateless services,
//     rollback on failure, a monitor window), rollback_config, restart policy,
//     resources, endpoint mode, placement (stateful services pinned by a
//     constraint, the front where its clients reach it)
//   - overlay networks (the backend stays internal)
//   - every rendered file a service mounts becomes a Swarm config whose name
//     carries the file's content hash: configs are immutable, so a changed
//     file gets a new name and the services using it roll
//   - published ports in long syntax, ingress (routing mesh) or host mode
// Values of secret variables never enter the file: they stay `${VAR}` and are
// supplied to `docker stack deploy` through its environment.
import { ownerLabels } from './compose.js';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { Stack } from '../config/schema.js';
import { swarmSchema, type SwarmOptions } from '../config/swarm-schema.js';
import { toYaml } from './yaml.js';
import { fileHeader } from './header.js';
import type { RenderedFile } from './types.js';

export const SWARM_STACK_FILE = 'docker-stack.yml';

type ComposeService = Record<string, unknown> & {
  image?: string;
  ports?: (string | Record<string, unknown>)[];
  volumes?: string[];
  labels?: Record<string, string>;
  deploy?: Record<string, unknown>;
  networks?: string[];
};

/** Swarm options with their defaults when the environment names none. */
export function swarmOptions(stack: Stack): SwarmOptions {
  return stack.swarm ?? swarmSchema.parse({});
}

/** Stateful services: datastores and anything with a named volume (its data lives on one node). */
export function statefulServices(stack: Stack): string[] {
  return Object.entries(stack.services)
    .filter(([, s]) => s.role === 'postgres' || s.role === 'redis' || (s.volumes ?? []).some((v) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]*:/.test(v)))
    .map(([n]) => n)
    .sort();
}

export function replicasOf(stack: Stack, service: string): number {
  const o = swarmOptions(stack);
  if (o.replicas[service] !== undefined) return o.replicas[service];
  return stack.services[service]?.role === 'web' && !statefulServices(stack).includes(service) ? 2 : 1;
}

/** The Swarm name of a service: <project>_<service>. */
export const swarmServiceName = (stack: Stack, service: string) => `${stack.project}_${service}`;

/** `[ip:]published:target[/proto]` -> long syntax (Swarm publishes on every interface: the ip is dropped). */
function longPort(spec: string, mode: 'ingress' | 'host'): Record<string, unknown> | undefined {
  const [main, proto = 'tcp'] = spec.split('/');
  const parts = main.split(':');
  const target = Number(parts[parts.length - 1]);
  const published = parts.length >= 2 ? Number(parts[parts.length - 2]) : NaN;
  if (!Number.isInteger(target) || !Number.isInteger(published) || published <= 0) return undefined; // "any free port": nothing to publish on a swarm
  return { target, published, protocol: proto, mode };
}

const slug = (p: string) => p.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');

/**
 * The stack file for `docker stack deploy`, made from the compose file, for a
 * stack that has swarm options (config/load.ts gives every swarm environment
 * theirs, and refuses them on compose); none without them.
 */
export function renderSwarm(stack: Stack, files: RenderedFile[]): RenderedFile[] {
  const o = stack.swarm;
  const composeFile = files.find((f) => f.path === 'docker-compose.yml');
  if (!o || !composeFile) return [];
  const doc = parse(composeFile.content, { version: '1.1' }) as {
    services: Record<string, ComposeService>;
    networks?: Record<string, Record<string, unknown> | null>;
    volumes?: Record<string, unknown>;
  };
  const stateful = new Set(statefulServices(stack));
  const configs: Record<string, { name: string; file: string }> = {};
  const services: Record<string, unknown> = {};
  const frontName = stack.front?.service;

  for (const [name, svc] of Object.entries(doc.services)) {
    const role = stack.services[name]?.role ?? 'other';
    const out: Record<string, unknown> = {};
    const svcConfigs: { source: string; target: string; mode: number }[] = [];
    const volumes: string[] = [];
    for (const v of svc.volumes ?? []) {
      const [source, target] = v.split(':');
      if (!source.startsWith('./')) {
        volumes.push(v);
        continue;
      }
      const rel = path.posix.normalize(source.slice(2));
      const under = files.filter((f) => f.path === rel || f.path.startsWith(`${rel}/`)).sort((a, b) => a.path.localeCompare(b.path));
      for (const f of under) {
        const hash = createHash('sha256').update(f.content).digest('hex').slice(0, 12);
        const key = `${slug(f.path)}_${hash}`;
        configs[key] = { name: `${stack.project}_${key}`, file: `./${f.path}` };
        const t = f.path === rel ? target : path.posix.join(target, f.path.slice(rel.length + 1));
        svcConfigs.push({ source: key, target: t, mode: 0o444 });
      }
    }
    for (const [k, v] of Object.entries(svc)) {
      if (['container_name', 'depends_on', 'restart', 'build', 'volumes', 'ports', 'deploy'].includes(k)) continue;
      out[k] = v;
    }
    if (volumes.length) out.volumes = volumes;
    if (svcConfigs.length) out.configs = svcConfigs;
    const isFront = name === frontName || role === 'front';
    if (isFront) {
      const ports = (svc.ports ?? []).flatMap((p) => (typeof p === 'string' ? [longPort(p, o.publish_mode)] : [{ ...p, mode: o.publish_mode }])).filter(Boolean);
      if (ports.length) out.ports = ports;
    }
    // Two tasks of a service that holds data or binds a host-mode port cannot
    // overlap on one node: those stop first, the rest start the new task first.
    const order = stateful.has(name) || (isFront && o.publish_mode === 'host') ? 'stop-first' : 'start-first';
    const constraints = stateful.has(name) ? [o.data_constraint] : isFront && o.front_constraint ? [o.front_constraint] : [];
    const deploy: Record<string, unknown> = {
      mode: 'replicated',
      replicas: replicasOf(stack, name),
      endpoint_mode: o.endpoint_mode,
      labels: { 'lifeops.stack': stack.name, 'lifeops.env': stack.env, 'lifeops.role': role, ...ownerLabels(stack) },
      update_config: { parallelism: 1, delay: '0s', order, failure_action: 'rollback', monitor: o.monitor, max_failure_ratio: 0 },
      rollback_config: { parallelism: 1, delay: '0s', order, failure_action: 'pause', monitor: o.monitor },
      restart_policy: { condition: 'any', delay: '2s', window: '0s' },
    };
    const resources = (svc.deploy as { resources?: unknown } | undefined)?.resources;
    if (resources) deploy.resources = resources;
    if (constraints.length) deploy.placement = { constraints };
    out.deploy = deploy;
    services[name] = out;
  }

  const networks: Record<string, unknown> = {};
  for (const [n, def] of Object.entries(doc.networks ?? { default: {} })) {
    const d = { ...(def ?? {}) } as Record<string, unknown>;
    if (d.external) {
      networks[n] = d;
      continue;
    }
    delete d.driver;
    networks[n] = { driver: 'overlay', ...d };
  }
  const result: Record<string, unknown> = { version: '3.8', services, networks };
  if (doc.volumes && Object.keys(doc.volumes).length) result.volumes = doc.volumes;
  if (Object.keys(configs).length) result.configs = Object.fromEntries(Object.entries(configs).sort(([a], [b]) => a.localeCompare(b)));
  const header = fileHeader(stack, `Stack file for \`docker stack deploy -c ${SWARM_STACK_FILE} ${stack.project}\` (target: swarm).`);
  return [{ path: SWARM_STACK_FILE, content: toYaml(result, header) }];
}
