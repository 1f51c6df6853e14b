// Pure argv builders for a Docker Swarm: every command lifeops runs against a
// manager or a node's engine, named by its engine address (-H), so a dry run
// and the tests see the exact argv the real run uses.

export const dockerAt = (host: string, ...args: string[]): string[] => ['docker', '-H', host, ...args];

/** `docker stack deploy` without a registry lookup (images are resolved on each node). */
export const stackDeploy = (host: string, file: string, project: string): string[] =>
  dockerAt(host, 'stack', 'deploy', '--prune', '--resolve-image', 'never', '-c', file, project);

export const stackRm = (host: string, project: string): string[] => dockerAt(host, 'stack', 'rm', project);

export const stackServices = (host: string, project: string): string[] =>
  dockerAt(host, 'service', 'ls', '--filter', `label=com.docker.stack.namespace=${project}`, '--format', '{{.Name}}');

export const serviceInspect = (host: string, services: string[]): string[] => dockerAt(host, 'service', 'inspect', ...services);

/** Tasks of a service meant to run now, one JSON object a line. */
export const serviceTasks = (host: string, service: string, all = false): string[] =>
  dockerAt(host, 'service', 'ps', '--no-trunc', ...(all ? [] : ['--filter', 'desired-state=running']), '--format', '{{json .}}', service);

export const serviceLogs = (host: string, service: string, tail?: number, follow = false): string[] =>
  dockerAt(host, 'service', 'logs', '--timestamps', ...(tail !== undefined ? ['--tail', String(tail)] : []), ...(follow ? ['--follow'] : []), service);

export const serviceScale = (host: string, scales: Record<string, number>): string[] =>
  dockerAt(host, 'service', 'scale', '--detach', ...Object.entries(scales).map(([s, n]) => `${s}=${n}`));

export const serviceRm = (host: string, service: string): string[] => dockerAt(host, 'service', 'rm', service);

export const nodeList = (host: string): string[] => dockerAt(host, 'node', 'ls', '--format', '{{.ID}}');
export const nodeInspect = (host: string, ids: string[]): string[] => dockerAt(host, 'node', 'inspect', ...ids);
export const engineInfo = (host: string): string[] => dockerAt(host, 'info', '--format', '{{json .Swarm}}');
export const imageId = (host: string, image: string): string[] => dockerAt(host, 'image', 'inspect', '--format', '{{.Id}}', image);

/** The container of one task on the node that runs it. */
export const taskContainer = (nodeHost: string, taskId: string): string[] =>
  dockerAt(nodeHost, 'ps', '-q', '--filter', `label=com.docker.swarm.task.id=${taskId}`);

export const execIn = (nodeHost: string, container: string, cmd: string[], stdin = false): string[] =>
  dockerAt(nodeHost, 'exec', ...(stdin ? ['-i'] : []), container, ...cmd);

/**
 * A one-off Swarm job (runs once, never restarted) on the given networks and
 * placement, with its environment from a file (values stay out of the argv).
 */
export function jobCreate(
  host: string,
  o: { name: string; image: string; command: string[]; networks: string[]; constraints: string[]; envFile?: string; labels: Record<string, string> },
): string[] {
  return dockerAt(
    host,
    'service',
    'create',
    '--detach',
    '--mode',
    'replicated-job',
    '--restart-condition',
    'none',
    '--name',
    o.name,
    ...o.networks.flatMap((n) => ['--network', n]),
    ...o.constraints.flatMap((c) => ['--constraint', c]),
    ...(o.envFile ? ['--env-file', o.envFile] : []),
    ...Object.entries(o.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    o.image,
    ...o.command,
  );
}

// ------------------------------------------------ what these commands report, parsed (clients/swarm.ts fills them; plan/swarm.ts judges them)

export interface SwarmNode {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  state: string; // ready, down, unknown
  availability: string; // active, pause, drain
  labels: Record<string, string>;
}

/** One task as `docker service ps --format '{{json .}}'` prints it. */
export interface SwarmTask {
  ID: string;
  Name: string;
  Image: string;
  Node: string;
  DesiredState: string;
  CurrentState: string; // "Running 5 seconds ago", "Starting 2 seconds ago", "Complete ..."
  Error: string;
}

export interface ServiceSpecFacts {
  name: string;
  replicas: number;
  image: string;
  /** UpdateStatus.State: updating, completed, paused, rollback_started, rollback_completed, rollback_paused; '' when never updated */
  updateState: string;
  updateMessage: string;
  constraints: string[];
  /** the service's own labels (the state dir in charge of it: plan/ownership.ts) */
  labels: Record<string, string>;
}
