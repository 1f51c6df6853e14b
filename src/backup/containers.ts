// The containers and images a backup works through: the running container of
// a service (found by compose labels), and a local image to run helpers in.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { DockerClient, ContainerState } from '../clients/docker.js';
import type { CommandPort } from '../clients/port.js';

export async function serviceContainer(docker: DockerClient, stack: Stack, service: string, requireRunning = true): Promise<ContainerState> {
  const all = await docker.projectContainers(stack.project);
  const mine = all.filter((c) => c.service === service);
  const c = mine.find((x) => x.state === 'running') ?? (requireRunning ? undefined : mine[0]);
  if (!c) // never started here: a backup (a cron job) must not bring up what may be down on purpose
  if (!c) throw new OperationError(`service ${service} of ${stack.project} has no running container`, `start the stack: lifeops deploy ${stack.env} (a deploy or a rollback starts stopped datastores first)`);
  return c;
}

/**
 * The images that have sh, tar and sha256sum, best first: the db service's,
 * the redis service's, then any service's (as the stack names them, before
 * any images: mapping).
 */
export function helperImageCandidates(stack: Stack): string[] {
  return [
    ...(stack.postgres ? [stack.services[stack.postgres.service]?.image] : []),
    ...(stack.redis ? [stack.services[stack.redis.service]?.image] : []),
    ...Object.values(stack.services).map((s) => s.image),
  ].filter((x): x is string => Boolean(x));
}

/** The first of `images` present on this machine. */
export async function firstLocalImage(docker: DockerClient, images: string[]): Promise<string> {
  for (const img of images) if (await docker.imageExists(img)) return img;
  throw new OperationError('no local image to run the volume helper container with');
}

/**
 * Wait until a Postgres container serves on TCP. A new one's first start runs
 * the image's initialisation on a temporary server that listens on the socket
 * only and may not have created the database yet, and the usual healthcheck
 * (pg_isready on the socket) already passes then: a dump or restore that
 * starts meanwhile fails ("database does not exist") or is cut off.
 */
export async function postgresServing(docker: DockerClient, clock: Pick<CommandPort, 'sleep'>, containerId: string, user: string, db: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waited = 0;
  for (;;) {
    const r = await docker.exec(containerId, ['pg_isready', '-q', '-h', '127.0.0.1', '-U', user, '-d', db], 10_000).catch(() => undefined);
    if (r?.exitCode === 0) return;
    // the clock's waits count too: a recording port's waits take no time
    if (Date.now() > deadline || waited > timeoutMs) throw new OperationError(`postgres in container ${containerId.slice(0, 12)} did not answer on TCP within ${timeoutMs / 1000}s (its first-start initialisation may still run)`);
    await clock.sleep(500);
    waited += 500;
  }
}

/** postgresServing for the stack's own Postgres service (none, or an external one: nothing to wait for). */
export async function stackPostgresServing(docker: DockerClient, clock: Pick<CommandPort, 'sleep'>, stack: Stack): Promise<void> {
  const pg = stack.postgres;
  if (!pg || pg.external_url) return;
  const c = await serviceContainer(docker, stack, pg.service);
  await postgresServing(docker, clock, c.id, pg.user, pg.database);
}
