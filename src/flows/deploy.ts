// `lifeops deploy <env>`: pre-flight, render, build, compose up, wait for
// health, check endpoints, record the release. Each step is logged.
import os from 'node:os';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { detectCompose, runChecked } from '../clients/runner.js';
import { composeUp, dockerBuild, shellQuote, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { mapImage } from '../render/compose.js';
import { Run } from './context.js';
import { Lock } from './lock.js';
import { appendRelease } from './ledger.js';
import { configHash, composePaths, renderDirFor, renderStack, writeRendered } from './render.js';
import { endpointChecks, expectedServices, worst } from './health.js';
import { parseDuration } from '../util/units.js';

export interface DeployOptions {
  stateDir: string;
  build?: boolean;
  dryRun?: boolean;
  commandLine: string;
}

export interface DeployResult {
  run_id: string;
  env: string;
  version: string;
  outcome: 'success' | 'failed';
  duration_ms: number;
  config_hash: string;
  images: Record<string, string>;
  log: string;
}

export function composeEnv(stack: Stack): Record<string, string> {
  return { ...stack.vars };
}

export function imagesToBuild(stack: Stack): { service: string; image: string; argv: string[] }[] {
  const seen = new Set<string>();
  const out: { service: string; image: string; argv: string[] }[] = [];
  for (const [name, svc] of Object.entries(stack.services)) {
    if (!svc.build) continue;
    const image = mapImage(svc.image, stack.images);
    if (seen.has(image)) continue;
    seen.add(image);
    const context = path.resolve(stack.baseDir, svc.build.context);
    const dockerfile = svc.build.dockerfile ? path.resolve(context, svc.build.dockerfile) : undefined;
    out.push({ service: name, image, argv: dockerBuild(image, context, { dockerfile, args: svc.build.args, labels: { 'lifeops.stack': stack.name } }) });
  }
  return out;
}

/** Poll until every expected service's containers are healthy (or running without a healthcheck). */
export async function waitHealthy(stack: Stack, docker: DockerClient, opts: { pollMs?: number } = {}): Promise<ContainerState[]> {
  const t0 = Date.now();
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
        if (Date.now() - t0 > parseDuration(svc.health_timeout)) {
          const c = running[0] ?? mine[0];
          if (!c) throw new OperationError(`service ${name} has no container after ${svc.health_timeout}`);
          throw await serviceFailure(docker, name, c, `did not become healthy within ${svc.health_timeout} (health: ${c.health})`);
        }
      }
    }
    if (pending.length === 0) return containers;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
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

export async function deploy(stack: Stack, run: Run, opts: DeployOptions): Promise<DeployResult> {
  const started = run.io.now();
  const docker = new DockerClient();
  const renderDir = renderDirFor(opts.stateDir, stack.env);
  const files = renderStack(stack, renderDir);
  const hash = configHash(files);
  const target: ComposeTarget = { project: stack.project, files: composePaths(files, renderDir) };
  const version = stack.vars.VERSION ?? stack.deploy.version;
  const images = Object.fromEntries(Object.entries(stack.services).map(([n, s]) => [n, mapImage(s.image, stack.images)]));
  let compose!: ComposeCli;
  let lock: Lock | undefined;

  const result = (outcome: 'success' | 'failed'): DeployResult => ({
    run_id: run.id,
    env: stack.env,
    version,
    outcome,
    duration_ms: run.io.now().getTime() - started.getTime(),
    config_hash: hash,
    images,
    log: run.logFile,
  });

  try {
    await run.step('pre-flight: engine, compose, stack', async () => {
      const engine = await docker.ping();
      compose = await detectCompose();
      run.info('pre-flight', { engine, compose: `${compose.kind} ${compose.version}`, services: Object.keys(stack.services).length });
    });
    if (opts.dryRun) {
      run.say(`would render ${files.length} files into ${renderDir}`);
      for (const b of imagesToBuild(stack)) run.say(`would run: ${shellQuote(b.argv)} (if ${b.image} is missing)`);
      run.say(`would run: ${shellQuote(composeUp(compose, target))}`);
      return result('success');
    }
    await run.step('take the deploy lock', async () => {
      lock = Lock.acquire(opts.stateDir, stack.env, opts.commandLine, run.io.now());
    });
    await run.step(`render ${files.length} files`, async () => writeRendered(files, renderDir));
    for (const b of imagesToBuild(stack)) {
      if (!opts.build && (await docker.imageExists(b.image))) continue;
      await run.step(`build ${b.image}`, () => runChecked(b.argv, { timeoutMs: 30 * 60_000 }));
    }
    await run.step(`compose up (${compose.kind}, project ${stack.project})`, () => runChecked(composeUp(compose, target), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
    const containers = await run.step('wait for every service to be healthy', () => waitHealthy(stack, docker));
    await run.step('check health and readiness endpoints', async () => {
      const checks = await endpointChecks(stack, docker, containers);
      const bad = checks.filter((c) => c.level !== 'OK');
      if (worst(checks.map((c) => c.level)) !== 'OK') throw new OperationError(`checks failed: ${bad.map((c) => `${c.check}: ${c.message}`).join('; ')}`);
    });
    const res = result('success');
    appendRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'deploy',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: res.duration_ms,
      version,
      user: os.userInfo().username,
      images,
      config_hash: hash,
      outcome: 'success',
      render_dir: renderDir,
    });
    return res;
  } catch (e) {
    if (lock) {
      const res = result('failed');
      appendRelease(opts.stateDir, {
        run_id: run.id,
        kind: 'deploy',
        env: stack.env,
        time: started.toISOString(),
        duration_ms: res.duration_ms,
        version,
        user: os.userInfo().username,
        images,
        config_hash: hash,
        outcome: 'failed',
        error: run.redactor.text((e as Error).message.split('\n')[0]),
      });
    }
    throw e;
  } finally {
    lock?.release();
  }
}
