// Waiting for a stack to be healthy, and naming the service that is not (with
// its last log lines) when it fails.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { DockerClient, ContainerState } from '../clients/docker.js';
import type { Effects } from './effects.js';
import { expectedServices } from '../plan/rollout.js';
import { parseDuration } from '../util/units.js';

/** Poll until every expected service's containers are healthy (or running without a healthcheck). */
export async function waitHealthy(stack: Stack, docker: DockerClient, clock: Pick<Effects, 'sleep'>, opts: { pollMs?: number } = {}): Promise<ContainerState[]> {
  const t0 = Date.now();
  const pollMs = opts.pollMs ?? 500;
  // what the clock waited counts too: a recording port's waits take no time
  let waited = 0;
  const services = expectedServices(stack);
  for (;;) {
    const containers = await docker.projectContainers(stack.project);
    const pending: string[] = [];
    for (const [name, svc] of services) {
      const mine = containers.filter((c) => c.service === name);
      const running = mine.filter((c) => c.state === 'running');
      const failed = mine.find((c) => c.state === 'exited' || c.state === 'dead' || c.health === 'unhealthy');
      if (failed && running.filter((c) => c.health !== 'unhealthy').length < svc.replicas) {
        throw await serviceFailure(docker, name, failed, failed.health === 'unhealthy' ? 'is unhealthy' : `exited (code ${failed.exitCode})`);
      }
      const ready = running.filter((c) => c.health === 'healthy' || (c.health === 'none' && !svc.healthcheck));
      if (ready.length < svc.replicas) {
        pending.push(name);
        if (Math.max(Date.now() - t0, waited) > parseDuration(svc.health_timeout)) {
          const c = running[0] ?? mine[0];
          if (!c) throw new OperationError(`service ${name} has no container after ${svc.health_timeout}`);
          throw await serviceFailure(docker, name, c, `did not become healthy within ${svc.health_timeout} (health: ${c.health})`);
        }
      }
    }
    if (pending.length === 0) return containers;
    await clock.sleep(pollMs);
    waited += pollMs;
  }
}

/** The first service whose container exited or is unhealthy, as an error naming it. */
export async function diagnose(stack: Stack, docker: DockerClient): Promise<OperationError | undefined> {
  const containers = await docker.projectContainers(stack.project);
  for (const [name] of expectedServices(stack)) {
    const bad = containers.find((c) => c.service === name && (c.health === 'unhealthy' || c.state === 'exited' || c.state === 'dead'));
    if (bad) return serviceFailure(docker, name, bad, bad.health === 'unhealthy' ? 'is unhealthy' : `exited (code ${bad.exitCode})`);
  }
  return undefined;
}

async function serviceFailure(docker: DockerClient, service: string, c: ContainerState, what: string): Promise<OperationError> {
  let logs = '';
  try {
    logs = (await docker.logs(c.id, 20)).trimEnd();
  } catch {
    logs = '(logs unavailable)';
  }
  const indented = logs
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  return new OperationError(`service ${service} ${what}\n  last log lines of ${c.name}:\n${indented}`, `lifeops logs ${service}`);
}

