// Rolling out a rendered release. Per service, compare the config hash compose
// computes (`config --hash=*`) with the label on the running containers:
// unchanged services are left alone; `rolling` web services get new
// containers beside the old ones (scale up with --no-recreate), wait until
// healthy AND ready, then the old ones are stopped gracefully (the front
// re-resolves the service name through Docker DNS and retries the next
// address) and compose is scaled back; everything else is `up -d`
// (compose sends SIGTERM and waits stop_grace_period).
import type { Stack, Service } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { ContainerState, DockerClient } from '../clients/docker.js';
import { shellQuote, composeConfigHash, composeUp, composeUpNoDeps, dockerRm, dockerStop, nginxReload, nginxTest, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import type { Run } from './context.js';
import { mapImage } from '../config/images.js';
import { NGINX_CONF } from '../render/extras.js';
import { FRONT_RESOLVER_VALID } from '../render/nginx.js';
import { httpCheck } from './health.js';
import { diagnose } from './wait.js';
import { parseDuration } from '../util/units.js';
import { APP_ROLES, expectedServices, parseHashes, type RolloutPlan } from '../plan/rollout.js';
import { planRoll, type RollStep } from '../plan/deploy.js';

export interface RolloutCtx {
  stack: Stack;
  run: Run;
  docker: DockerClient;
  compose: ComposeCli;
  target: ComposeTarget;
  env: Record<string, string>;
}

export async function serviceHashes(ctx: Pick<RolloutCtx, 'compose' | 'env' | 'run'>, target: ComposeTarget): Promise<Record<string, string>> {
  const argv = composeConfigHash(ctx.compose, target);
  const r = await ctx.run.effects.read(argv, { env: ctx.env, timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${(r.stderr || r.stdout).split('\n').slice(-15).join('\n')}`);
  return parseHashes(r.stdout);
}

/** The image id each service's image reference points at now (undefined when absent). */
export async function currentImageIds(stack: Stack, docker: DockerClient): Promise<Record<string, string | undefined>> {
  const byRef = new Map<string, Promise<string | undefined>>();
  const out: Record<string, string | undefined> = {};
  const services = expectedServices(stack).map(([name, svc]) => [name, mapImage(svc.image, stack.images)] as const);
  for (const [, ref] of services) if (!byRef.has(ref)) byRef.set(ref, docker.imageId(ref));
  for (const [name, ref] of services) out[name] = await byRef.get(ref);
  return out;
}

/**
 * After dockerd was killed, containerd can still hold a container's old task
 * for a few seconds after the engine answers again; starting that container
 * then fails once with "task <id>: already exists" (seen in the crash bed).
 */
const STALE_TASK = /Error response from daemon: task [0-9a-f]{12,}: already exists/;

export async function exec(ctx: RolloutCtx, title: string, argv: string[], timeoutMs = 15 * 60_000): Promise<void> {
  await ctx.run.step(title, async () => {
    try {
      try {
        await ctx.run.effects.change(argv, { env: ctx.env, timeoutMs });
      } catch (e) {
        if (!STALE_TASK.test((e as Error).message)) throw e;
        // `up -d` converges, so the same command again is safe
        ctx.run.say(`${title}: the engine still held a container's task from before its restart; trying once more in 3 s`);
        ctx.run.info(title, { retry: 'stale containerd task' });
        await ctx.run.effects.sleep(3000);
        await ctx.run.effects.change(argv, { env: ctx.env, timeoutMs });
      }
    } catch (e) {
      // compose stops at the first dependency that is unhealthy: name the service, not the command.
      throw (await diagnose(ctx.stack, ctx.docker)) ?? e;
    }
  });
}

/** `up -d --no-deps` for changed services that are not app services (datastores and the like): before migrations. */
export async function upInfrastructure(ctx: RolloutCtx, plan: Pick<RolloutPlan, 'recreate'>): Promise<string[]> {
  const infra = plan.recreate.filter((n) => !APP_ROLES.has(ctx.stack.services[n].role));
  if (infra.length) await exec(ctx, `compose up --no-deps ${infra.join(', ')}`, composeUpNoDeps(ctx.compose, ctx.target, infra));
  return infra;
}

async function waitReady(ctx: RolloutCtx, name: string, svc: Service, ids: string[]): Promise<void> {
  const deadline = Date.now() + parseDuration(svc.health_timeout);
  const readyPath = svc.http?.ready ?? svc.http?.health;
  let last = '';
  for (;;) {
    let pending = 0;
    for (const id of ids) {
      const c = await ctx.docker.inspect(id);
      if (c.state === 'exited' || c.state === 'dead') throw new OperationError(`new ${name} container ${c.name} exited (code ${c.exitCode})\n${await tail(ctx, id)}`);
      if (c.health === 'unhealthy') throw new OperationError(`new ${name} container ${c.name} is unhealthy\n${await tail(ctx, id)}`);
      if (c.state !== 'running' || c.health === 'starting' || (c.health === 'none' && svc.healthcheck)) {
        pending++;
        last = `health: ${c.health}`;
        continue;
      }
      if (readyPath && svc.http) {
        try {
          await httpCheck(ctx.docker, c, svc.http.port, readyPath);
        } catch (e) {
          pending++;
          last = (e as Error).message.split('\n')[0];
        }
      }
    }
    if (!pending) return;
    if (Date.now() > deadline) throw new OperationError(`new ${name} container did not become healthy and ready within ${svc.health_timeout} (last: ${last})`);
    await ctx.run.effects.sleep(500);
  }
}

async function tail(ctx: RolloutCtx, id: string): Promise<string> {
  try {
    return (await ctx.docker.logs(id, 15))
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
  } catch {
    return '    (logs unavailable)';
  }
}

/** How long the front may keep a resolved address (nginx `resolver ... valid=`), plus a second of margin. */
export const DNS_SETTLE_MS = parseDuration(FRONT_RESOLVER_VALID) + 1000;

/** The front container's processes, one `pid title` line each (any image with a shell: nginx writes its process titles into /proc/N/cmdline). */
const PROCESS_LIST = ['sh', '-c', 'for d in /proc/[0-9]*; do [ -r "$d/cmdline" ] && printf "%s %s\\n" "${d#/proc/}" "$(tr "\\000" " " < "$d/cmdline")"; done; true'];

async function nginxWorkers(ctx: RolloutCtx, container: string): Promise<string[]> {
  const r = await ctx.docker.exec(container, PROCESS_LIST, 10_000);
  return r.output.split('\n').filter((l) => / nginx: worker process/.test(l)).map((l) => l.split(' ')[0]);
}

/**
 * Before the old containers stop, the front must send new requests to the
 * new ones. An nginx front is told at once: a graceful reload starts workers
 * with an empty resolver cache (they resolve the service name to the new
 * containers' addresses beside the old, and retry the next address once an
 * old one refuses), and the old workers, which knew only the old addresses,
 * are waited for until they have finished their requests and exited. Any
 * other front (or none reachable) waits out its DNS cache instead.
 */
async function frontSeesNew(ctx: RolloutCtx, name: string): Promise<ContainerState[]> {
  const front = ctx.stack.front;
  const fronts = front?.kind === 'nginx' ? (await ctx.docker.projectContainers(ctx.stack.project)).filter((c) => c.service === front.service && c.state === 'running') : [];
  if (!fronts.length) {
    await ctx.run.step(`${name}: let the front pick up the new address (${DNS_SETTLE_MS / 1000}s)`, () => ctx.run.effects.sleep(DNS_SETTLE_MS));
    return [];
  }
  let reloaded = true;
  await ctx.run.step(`${name}: reload the front (${fronts.map((c) => c.name).join(', ')}) so its workers resolve ${name} afresh, and wait for the old workers to finish`, async () => {
    const before = await Promise.all(fronts.map((c) => nginxWorkers(ctx, c.id)));
    if (before.some((pids) => !pids.length)) {
      // no process list from the front (an image without a shell): its DNS cache is waited out instead
      ctx.run.info('rollout', { front_workers: 'not listed', instead: `wait ${DNS_SETTLE_MS} ms` });
      await ctx.run.effects.sleep(DNS_SETTLE_MS);
      reloaded = false;
      return;
    }
    for (const c of fronts) {
      const r = await ctx.run.effects.execIn(ctx.docker, c.id, nginxReload(NGINX_CONF), 30_000);
      if (r.exitCode !== 0) {
        ctx.run.info('rollout', { reload_refused: r.output.trim().split('\n').slice(-2).join(' '), instead: `wait ${DNS_SETTLE_MS} ms` });
        await ctx.run.effects.sleep(DNS_SETTLE_MS);
        reloaded = false;
        return;
      }
    }
    // the old workers knew only the old addresses: done when none of them is left (they exit once their requests end)
    const deadline = Date.now() + 30_000;
    for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
      const now = await Promise.all(fronts.map((c) => nginxWorkers(ctx, c.id)));
      const left = now.reduce((n, pids, i) => n + pids.filter((p) => before[i].includes(p)).length, 0);
      if (!left) return;
      if (Date.now() > deadline) return ctx.run.info('rollout', { old_front_workers_still_running: left, after_ms: 30_000 });
      await ctx.run.effects.sleep(delay);
    }
  });
  return reloaded ? fronts : [];
}

/**
 * Once the old containers are gone, the front's workers may still hold their
 * addresses for the resolver's `valid=` time, and a connection to an address
 * that no longer exists waits out proxy_connect_timeout before the next one
 * is tried (seen: 0.94 s on the first request after the stop). A second
 * graceful reload starts workers that resolve only the new containers. Not
 * waited for: requests in flight finish on the workers they are on.
 */
async function frontForgetsOld(ctx: RolloutCtx, name: string, fronts: ContainerState[]): Promise<void> {
  if (!fronts.length) return;
  await ctx.run.step(`${name}: reload the front again (${fronts.map((c) => c.name).join(', ')}) so no new request goes to an old address`, async () => {
    for (const c of fronts) {
      const r = await ctx.run.effects.execIn(ctx.docker, c.id, nginxReload(NGINX_CONF), 30_000);
      // refused: the resolver's short cache forgets the old addresses by itself
      if (r.exitCode !== 0) ctx.run.info('rollout', { second_reload_refused: r.output.trim().split('\n').slice(-2).join(' ') });
    }
  });
}

/**
 * Replace one web service's containers with new ones without a gap, running
 * exactly the commands of its planned step (plan/deploy.ts planRoll).
 */
export async function rollingUpdate(ctx: RolloutCtx, step: RollStep): Promise<void> {
  const name = step.service;
  const svc = ctx.stack.services[name];
  const oldIds = new Set(step.retire.map((c) => c.id));
  const running = step.retire.filter((c) => c.running).length;
  const n = Math.max(1, svc.replicas);
  await exec(ctx, `${name}: start ${n} new container${n > 1 ? 's' : ''} beside the ${running || 'old'} running`, step.argv);
  const fresh = (await ctx.docker.projectContainers(ctx.stack.project)).filter((c) => c.service === name && !oldIds.has(c.id));
  if (!fresh.length) throw new OperationError(`compose started no new ${name} container`);
  try {
    await ctx.run.step(`${name}: wait until the new container${fresh.length > 1 ? 's are' : ' is'} healthy and ready (${fresh.map((c) => c.name).join(', ')})`, () =>
      waitReady(
        ctx,
        name,
        svc,
        fresh.map((c) => c.id),
      ),
    );
  } catch (e) {
    // the old containers never stopped serving: remove the new ones and keep compose's view as it was
    await ctx.run.step(`${name}: remove the new container${fresh.length > 1 ? 's' : ''} (old version keeps serving)`, async () => {
      for (const c of fresh) {
        await ctx.run.effects.change(dockerStop(c.id, step.grace_s), { timeoutMs: 120_000 }).catch(() => undefined);
        await ctx.run.effects.change(dockerRm(c.id), { timeoutMs: 60_000 }).catch(() => undefined);
      }
    });
    throw e;
  }
  if (running) {
    const reloaded = await frontSeesNew(ctx, name);
    for (const c of step.retire) {
      await ctx.run.step(`${name}: stop old container ${c.name} (SIGTERM, grace ${step.grace_s}s) and remove it`, async () => {
        await ctx.run.effects.change(c.stop, { timeoutMs: (step.grace_s + 60) * 1000 });
        await ctx.run.effects.change(c.rm, { timeoutMs: 60_000 });
      });
    }
    await frontForgetsOld(ctx, name, reloaded);
  }
  if (step.scaleBack) await exec(ctx, `${name}: scale back to ${n} in compose`, step.scaleBack);
}

/** Roll web services, then `up -d --no-deps` the other changed app services (a first deploy: `up -d` of everything). */
export async function rollApps(ctx: RolloutCtx, plan: Pick<RolloutPlan, 'rolling' | 'recreate' | 'fresh'>): Promise<void> {
  for (const name of plan.rolling) await rollingUpdate(ctx, planRoll(ctx.stack, ctx.compose, ctx.target, name, await ctx.docker.projectContainers(ctx.stack.project)));
  if (plan.fresh) return exec(ctx, `compose up (project ${ctx.stack.project})`, composeUp(ctx.compose, ctx.target));
  const rest = plan.recreate.filter((n) => APP_ROLES.has(ctx.stack.services[n].role));
  if (rest.length) await exec(ctx, `compose up --no-deps ${rest.join(', ')}`, composeUpNoDeps(ctx.compose, ctx.target, rest));
}

/**
 * Apply a changed front configuration to front containers that keep running
 * (compose did not recreate them): `nginx -t` on the files they now see, then
 * a graceful reload. New connections get the new configuration; requests in
 * flight finish on the old workers, so none is dropped.
 */
const NO_PID_YET = /invalid PID number|nginx\.pid" failed \(2: No such file/;

export async function reloadFront<C extends Pick<RolloutCtx, 'stack' | 'run' | 'docker'>>(ctx: C, reason: string): Promise<void> {
  const front = ctx.stack.front;
  if (front?.kind !== 'nginx') return;
  const running = (await ctx.docker.projectContainers(ctx.stack.project)).filter((c) => c.service === front.service && c.state === 'running');
  for (const c of running) {
    await ctx.run.step(`${front.service}: nginx -t, then graceful reload of ${c.name} (${reason})`, async () => {
      const test = await ctx.docker.exec(c.id, nginxTest(NGINX_CONF), 30_000);
      if (test.exitCode !== 0) throw new OperationError(`nginx in ${c.name} refuses the new configuration (it keeps serving the old one):\n${test.output.trim().split('\n').slice(-6).join('\n')}`);
      // a front container compose has just (re)started may not have written its pid file yet
      // ("invalid PID number", or no such file): its master then reads the new files as it starts; ask again shortly
      let r = await ctx.run.effects.execIn(ctx.docker, c.id, nginxReload(NGINX_CONF), 30_000);
      for (let i = 0; r.exitCode !== 0 && NO_PID_YET.test(r.output) && i < 30; i++) {
        await ctx.run.effects.sleep(500);
        r = await ctx.run.effects.execIn(ctx.docker, c.id, nginxReload(NGINX_CONF), 30_000);
      }
      if (r.exitCode !== 0) throw new OperationError(`nginx reload in ${c.name} failed: ${r.output.trim().split('\n').slice(-3).join(' ')}`);
    });
  }
}
