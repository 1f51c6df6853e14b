// Shared by the Swarm flows (swarm.ts: deploy, status; swarm-backup.ts:
// backup and rollback): the manager client, pre-flight, convergence and
// database waits, the smoke test through the front, migrations as a job.
import os from 'node:os';
import path from 'node:path';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { SwarmClient } from '../clients/swarm.js';
import { SWARM_STACK_FILE, swarmOptions, swarmServiceName } from '../render/swarm.js';
import { serviceConvergence, swarmPreflightProblems, type Convergence } from '../plan/swarm.js';
import type { MigrationJob } from '../plan/swarm-deploy.js';
import { parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import type { ProjectPlace } from './place.js';
import { engineInfo } from '../commands/swarm.js';


export interface SwarmFlowOptions {
  stateDir: string;
  commandLine: string;
  waitMs?: number;
  skipBackup?: boolean;
  allowDangerousMigrations?: boolean;
  /** asks the operator (production); absent under cron and in tests, where production needs --yes */
  confirm?: (question: string) => Promise<void>;
}

/** The swarm of the stack, reached through the run's effects port (a dry run refuses its changes; a test records them). */
export function swarmClient(stack: Stack, run: Pick<Run, 'env' | 'effects'>): SwarmClient {
  const o = swarmOptions(stack);
  return new SwarmClient(o.manager ?? run.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', o.nodes, run.effects);
}

export interface StackFileService {
  image: string;
  deploy?: { placement?: { constraints?: string[] }; replicas?: number };
  ports?: { published: number; mode?: string }[];
}
export const readStackServices = (dir: string) =>
  (parse(readFileSync(path.join(dir, SWARM_STACK_FILE), 'utf8'), { version: '1.1' }) as { services: Record<string, StackFileService> }).services;

export const dbService = (stack: Stack) => stack.postgres?.service;
export const redisService = (stack: Stack) => stack.redis?.service;

/** The front's URL for the smoke test: the front address and its first published port. */
export function frontUrl(stack: Stack, dir: string): string | undefined {
  const front = stack.front?.service;
  if (!front) return undefined;
  const port = readStackServices(dir)[front]?.ports?.[0]?.published;
  if (!port) return undefined;
  const domain = stack.front?.domains?.[0];
  const upstream = domain ? stack.services[domain.upstream] : undefined;
  return `http://${swarmOptions(stack).front_address ?? '127.0.0.1'}:${port}${upstream?.http?.health ?? '/'}`;
}

// ---------------------------------------------------------------- pre-flight
export async function preflight(stack: Stack, run: Run, sw: SwarmClient, dir: string): Promise<void> {
  await run.step('pre-flight: a Swarm manager, ready nodes, placement labels, images on every node that may run them', async () => {
    const isManager = await sw.isManager();
    const nodes = isManager ? await sw.nodes() : [];
    const services = Object.entries(readStackServices(dir)).map(([name, s]) => ({ name, image: s.image, constraints: s.deploy?.placement?.constraints ?? [] }));
    const images: Record<string, Record<string, boolean>> = {};
    const wanted = [...new Set(services.map((s) => s.image))];
    await Promise.all(
      nodes
        .filter((n) => sw.nodeEngines[n.hostname])
        .map(async (n) => {
          const engine = sw.nodeEngines[n.hostname];
          const have = await Promise.all(wanted.map((img) => sw.hasImage(engine, img)));
          images[n.hostname] = Object.fromEntries(wanted.map((img, i) => [img, have[i]]));
        }),
    );
    const problems = swarmPreflightProblems({ isManager, nodes, services, images });
    if (problems.length) throw new OperationError(`pre-flight found ${problems.length} problem(s); nothing was changed:\n  - ${problems.join('\n  - ')}`);
    run.info('pre-flight', { nodes: nodes.map((n) => `${n.hostname}:${n.role}:${n.state}`) });
    return nodes.length;
  });
}

// ---------------------------------------------------------------- converge
export async function waitConverged(stack: Stack, run: Run, sw: SwarmClient, deadlineMs: number): Promise<number> {
  const t0 = Date.now();
  let last: Convergence[] = [];
  while (Date.now() - t0 < deadlineMs) {
    const names = await sw.services(stack.project);
    const specs = await sw.serviceSpecs(names);
    last = await Promise.all(specs.map(async (s) => serviceConvergence(s, await sw.tasks(s.name))));
    const failed = last.find((c) => c.state === 'failed');
    if (failed && failed.state === 'failed') throw new OperationError(`the stack did not converge: ${failed.why}`);
    if (specs.length && last.every((c) => c.state === 'converged')) return Date.now() - t0;
    await run.effects.sleep(1000);
  }
  const pending = last.flatMap((c) => (c.state === 'pending' ? [c.why] : []));
  throw new OperationError(`the stack did not converge within ${Math.round(deadlineMs / 1000)} s: ${pending.join('; ') || 'no services'}`);
}

export async function smokeTest(stack: Stack, run: Pick<Run, 'effects'>, dir: string, attempts = 10): Promise<string | undefined> {
  const url = frontUrl(stack, dir);
  if (!url) return undefined;
  let last = '';
  for (let i = 0; i < attempts; i++) {
    try {
      const r = await run.effects.httpGet(url, 5000);
      if (r.ok) return url;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await run.effects.sleep(1000);
  }
  throw new OperationError(`smoke test failed: ${url} answered ${last}`);
}

// ---------------------------------------------------------------- migrations
/**
 * Postgres answering on TCP inside its task: the image's first start runs a
 * socket-only server while it initialises, and a health check on the socket
 * passes then, before the database exists.
 */
export async function waitDatabaseReady(stack: Stack, sw: SwarmClient, deadlineMs: number): Promise<void> {
  const db = dbService(stack);
  if (!db || !stack.postgres) return;
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < deadlineMs) {
    try {
      const t = await sw.taskContainer(swarmServiceName(stack, db));
      const r = await sw.exec(t.engine, t.container, ['pg_isready', '-h', '127.0.0.1', '-U', stack.postgres.user, '-d', stack.postgres.database]);
      if (r.exitCode === 0) return;
      last = r.output.split('\n').pop() ?? '';
    } catch (e) {
      last = (e as Error).message;
    }
    await sw.sleep(2000);
  }
  throw new OperationError(`the database did not accept connections within ${Math.round(deadlineMs / 1000)} s: ${last}`);
}

/** The migrations' one-off job for the stack file in `dir`: on the database's node and the stack's networks, its environment in a private file named after the run. */
export function migrationJob(stack: Stack, dir: string, runId: string): MigrationJob | undefined {
  const m = stack.migrations;
  if (!m) return undefined;
  const image = readStackServices(dir)[m.service]?.image;
  if (!image) throw new OperationError(`migrations.service ${m.service} is not in the stack`);
  const nets = Object.keys((parse(readFileSync(path.join(dir, SWARM_STACK_FILE), 'utf8'), { version: '1.1' }) as { networks?: object }).networks ?? { default: {} });
  return {
    name: `${stack.project}_migrate`,
    image,
    command: Array.isArray(m.command) ? m.command : ['sh', '-c', m.command],
    networks: nets.map((n) => `${stack.project}_${n}`),
    constraints: [swarmOptions(stack).data_constraint],
    envFile: path.join(os.tmpdir(), `lifeops-migrate-${runId}.env`),
    labels: { 'lifeops.project': stack.project, 'lifeops.oneoff': 'migrate', 'lifeops.run': runId },
  };
}

/** Runs the migrations' job (planned by migrationJob) and waits for it; its log is returned. */
export async function runMigrationJob(stack: Stack, sw: SwarmClient, job: MigrationJob): Promise<string> {
  await waitDatabaseReady(stack, sw, parseDuration(swarmOptions(stack).converge_timeout));
  const { name } = job;
  await sw.removeService(name); // a leftover from a crashed run
  const env = stack.services[stack.migrations!.service]?.environment ?? {};
  writeFileSync(job.envFile!, Object.entries(env).map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n', { mode: 0o600 });
  try {
    await sw.createJob(job);
  } finally {
    rmSync(job.envFile!, { force: true });
  }
  try {
    const t0 = Date.now();
    for (;;) {
      const tasks = await sw.tasks(name, true);
      const done = tasks.find((t) => /^complete/i.test(t.CurrentState));
      const failed = tasks.find((t) => /^(failed|rejected)/i.test(t.CurrentState));
      if (done) return sw.logs(name);
      if (failed) throw new OperationError(`migrations failed on ${failed.Node}: ${failed.Error || failed.CurrentState}\n${(await sw.logs(name)).split('\n').slice(-10).join('\n')}`);
      if (Date.now() - t0 > 180_000) throw new OperationError('migrations did not finish within 180 s');
      await sw.sleep(1000);
    }
  } finally {
    await sw.removeService(name);
  }
}

export async function deployStackDir(stack: Stack, run: Run, sw: SwarmClient, dir: string, title: string): Promise<void> {
  await run.step(title, () => sw.stackDeploy(path.join(dir, SWARM_STACK_FILE), stack.project, { ...stack.vars }, dir));
}

/**
 * A swarm's stack: its services carry the labels; the lock is keyed by the
 * cluster's id as its manager reports it, else by the manager's address.
 */
export const swarmPlace: ProjectPlace = {
  async engineKey(stack, run) {
    const manager = swarmOptions(stack).manager ?? run.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    const r = await run.effects.read(engineInfo(manager), { timeoutMs: 30_000 });
    let cluster: string | undefined;
    try {
      cluster = r.exitCode === 0 ? (JSON.parse(r.stdout) as { Cluster?: { ID?: string } }).Cluster?.ID : undefined;
    } catch {
      cluster = undefined;
    }
    return cluster ? `swarm:${cluster}` : `swarm-manager:${manager}`;
  },
  async labelled(stack, run) {
    const sw = swarmClient(stack, run);
    return (await sw.serviceSpecs(await sw.services(stack.project))).map((s) => ({ name: s.name, labels: s.labels }));
  },
};
