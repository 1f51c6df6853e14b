// The `swarm:` block and `target:` key: where an environment runs when it
// says `target: swarm` (docker stack deploy on a Swarm manager) instead of
// compose on one host. Kept apart from schema.ts, which only names it.
import { z } from 'zod';
import { numeric } from './numeric.js';

const dur = z.string().regex(/^\d+(ms|s|m|h)$/, 'a duration such as "500ms", "30s", "5m"');
const engine = z
  .string()
  .regex(/^(unix|tcp|ssh):\/\/\S+$/, 'a Docker engine address such as "unix:///run/docker.sock", "ssh://ops@node1" or "tcp://10.0.0.5:2376"');
const constraint = z
  .string()
  .regex(/^node\.[A-Za-z0-9_.-]+ *(==|!=) *\S+$/, 'a placement constraint such as "node.labels.lifeops.role == data" or "node.role == manager"');

export const targetSchema = z.enum(['compose', 'swarm']).describe('where the environment runs: compose on one host (default) or a Docker Swarm (docker stack deploy)');

export const swarmSchema = z
  .object({
    manager: engine.optional().describe('the engine of a Swarm manager (default DOCKER_HOST, else the local socket)'),
    nodes: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a node hostname'), engine)
      .default({})
      .describe('node hostname -> its engine: how lifeops reaches datastore containers on whichever node runs them'),
    endpoint_mode: z.enum(['vip', 'dnsrr']).default('vip').describe('vip (Swarm virtual IPs, needs IPVS) or dnsrr (the service name resolves to every task)'),
    publish_mode: z.enum(['ingress', 'host']).default('ingress').describe("the front's published ports: the routing mesh on every node (ingress) or only on the node running it (host)"),
    data_constraint: constraint.default('node.labels.lifeops.role == data').describe('where stateful services (postgres, redis, named volumes) are pinned'),
    front_constraint: constraint.optional().describe('where the front runs (with publish_mode host: the node whose address clients use)'),
    replicas: z.record(z.string(), numeric(z.number().int().min(0).max(100))).default({}).describe('service -> replicas (default: web 2, others 1)'),
    front_address: z.string().regex(/^[A-Za-z0-9.:-]+$/, 'a host name or address').optional().describe('where the smoke test reaches the front (default 127.0.0.1)'),
    monitor: dur.default('10s').describe('how long Swarm watches an updated task before counting the update a success'),
    converge_timeout: dur.default('5m').describe('deadline for every service to converge on the new spec'),
  })
  .strict();

export type SwarmOptions = z.infer<typeof swarmSchema>;
