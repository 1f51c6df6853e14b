// `lifeops maintenance on|off|status`, and the hold `deploy --maintenance` and
// `rollback --maintenance` take for their duration. The front is never
// restarted or reloaded: the files are written under the rendered nginx
// folder it bind-mounts (render/maintenance.ts says how nginx reads them),
// then what it answers is checked through its published 127.0.0.1 port.
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { httpGetLoopback } from '../clients/http.js';
import { reachPublishedPort, type ContainerState } from '../clients/docker.js';
import { domainTls } from '../render/front.js';
import {
  DEFAULT_MAINTENANCE_MESSAGE,
  MAINTENANCE_MARKER,
  checkMaintenanceMessage,
  checkRetryAfter,
  maintenancePages,
  maintenanceUnsupported,
  stateFolderName,
  type MaintenanceRecord,
} from '../render/maintenance.js';
import { configuredHostPort } from '../plan/status.js';
import { ACTIVE_LINK, clearMaintenance, readMaintenance, writeMaintenance } from '../state/maintenance.js';
import { maintenanceDir, renderDir } from '../state/paths.js';
import { readRenderedDir } from './render.js';
import type { Run } from './context.js';
import { assertInCharge } from './ownership.js';
import { TAKE_OVER_ENV } from '../plan/ownership.js';

/** The front reads the render dir of the state dir in charge of the project: from another one the flag would not reach it (exit 2). */
const inCharge = (stack: Stack, run: Run, stateDir: string) =>
  run.step(`check that this state dir is in charge of project ${stack.project}`, () => assertInCharge(stack, run, stateDir, run.io.env[TAKE_OVER_ENV]));

export interface MaintenanceOnOptions {
  stateDir: string;
  message?: string;
  retryAfter?: string | number;
  dryRun?: boolean;
  /** who turns it on (kept in the record `status` shows) */
  by: string;
}

export interface MaintenanceResult {
  env: string;
  on: boolean;
  /** it was already so (off: nothing to remove) */
  unchanged?: boolean;
  since?: string;
  message?: string;
  retry_after?: number;
  by?: string;
  /** the folder written (on) */
  dir?: string;
  /** what the front answered to GET / afterwards, or why it was not asked */
  front?: string;
  dry_run?: boolean;
  /** dry run: the files it would write */
  would_write?: { path: string; content: string }[];
}

/** Exit 2 before anything is touched when the stack cannot have maintenance mode (no front, a Traefik front). */
export function refuseUnsupported(stack: Stack): void {
  const why = maintenanceUnsupported(stack);
  if (why) throw new UsageError(`${why}; nothing was changed`, stack.front ? 'use an nginx front, or answer 503 from the app itself' : undefined);
}

/** The front's sites in force carry the maintenance block (a config rendered by an older lifeops, or a custom template, may not). */
function checkConfigInForce(stack: Stack, stateDir: string): void {
  const confs = readRenderedDir(renderDir(stateDir, stack.env)).filter((f) => f.path.startsWith('nginx/conf.d/'));
  if (!confs.length) throw new OperationError(`environment ${stack.env} has no rendered nginx front in force (${renderDir(stateDir, stack.env)})`, `deploy it first: lifeops deploy ${stack.env}`);
  const without = confs.filter((f) => !f.content.includes(MAINTENANCE_MARKER)).map((f) => f.path);
  if (without.length) {
    throw new OperationError(
      `the front's configuration in force has no maintenance check in ${without.join(', ')} (rendered by an older lifeops, or a custom nginx/site.conf template without {{maintenance}}); nothing was changed`,
      `deploy once so the front loads it: lifeops deploy ${stack.env}`,
    );
  }
}

/** GET / through the front's published loopback port, asking for JSON; undefined when the front publishes no port here. */
async function askFront(stack: Stack, containers: ContainerState[]): Promise<{ status: number; body: string; url: string } | { skipped: string }> {
  const front = stack.front!;
  const domain = front.domains[0];
  const tls = domainTls(front, domain);
  const port = tls ? 443 : front.listen_port;
  const c = containers.find((x) => x.service === front.service && x.state === 'running');
  if (!c) return { skipped: `the front (${front.service}) has no running container` };
  const configured = configuredHostPort(stack.services[front.service]?.ports ?? [], port);
  // a remote engine's port is reached through a forward to a port of this machine
  const hostPort = configured !== undefined ? reachPublishedPort(configured) : c.ports[port];
  if (!hostPort) return { skipped: `the front publishes no port for ${port} on 127.0.0.1` };
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${hostPort}/ (Host: ${domain.name})`;
  try {
    const r = await httpGetLoopback({ port: Number(hostPort), path: '/', hostHeader: domain.name, tls, timeoutMs: 10_000, headers: { accept: 'application/json' } });
    return { status: r.status, body: r.excerpt, url };
  } catch (e) {
    return { skipped: `${url} did not answer: ${(e as Error).message.split('\n')[0]}` };
  }
}

const isMaintenanceAnswer = (a: { status: number; body: string }) => a.status === 503 && /"status"\s*:\s*"maintenance"/.test(a.body);

/** Turn maintenance mode on (or change its message): write the page, point `active` at it, check the front answers it. */
export async function maintenanceOn(stack: Stack, run: Run, o: MaintenanceOnOptions): Promise<MaintenanceResult> {
  refuseUnsupported(stack);
  const message = o.message === undefined ? DEFAULT_MAINTENANCE_MESSAGE : checkMaintenanceMessage(o.message);
  const retryAfter = checkRetryAfter(o.retryAfter);
  const since = run.io.now().toISOString();
  const rec: MaintenanceRecord = { since, message, retry_after: retryAfter, by: o.by };
  const pages = maintenancePages(rec);
  const folder = stateFolderName(retryAfter, run.id.replace(/[^A-Za-z0-9]/g, ''));
  const dir = maintenanceDir(o.stateDir, stack.env);
  const base = { env: stack.env, on: true, since, message, retry_after: retryAfter, by: o.by };
  if (o.dryRun) {
    const would = [...pages.map((p) => ({ path: path.join(dir, folder, p.name), content: p.content })), { path: path.join(dir, ACTIVE_LINK), content: `symlink -> ${folder} (renamed into place)` }];
    for (const w of would) run.say(`would write ${w.path}:\n${w.content.trimEnd()}`);
    run.say('dry run: nothing was changed');
    return { ...base, dir: path.join(dir, folder), dry_run: true, would_write: would };
  }
  await inCharge(stack, run, o.stateDir);
  await run.step('pre-flight: the front in force has the maintenance check', async () => checkConfigInForce(stack, o.stateDir));
  const before = readMaintenance(o.stateDir, stack.env);
  try {
    const written = await run.step(`maintenance on: write the page and point ${ACTIVE_LINK} at it (retry after ${retryAfter}s)`, async () => {
      const w = writeMaintenance(o.stateDir, stack.env, folder, pages);
      // a front on a server over SSH reads its own copy
      await run.effects.publishMaintenance?.(dir);
      return w;
    });
    const front = await run.step('check the front answers 503 with the maintenance page', async () => {
      const a = await askFront(stack, await run.docker.projectContainers(stack.project));
      if ('skipped' in a) return `not checked: ${a.skipped}`;
      if (!isMaintenanceAnswer(a)) throw new OperationError(`the front answered ${a.status} to ${a.url}, not the maintenance page (${a.body.slice(0, 120)}): the configuration it has loaded predates maintenance mode`, `deploy once so the front loads it: lifeops deploy ${stack.env}`);
      return `${a.url} answered ${a.status} with the maintenance page`;
    });
    run.info('maintenance', { on: true, since, retry_after: retryAfter, by: o.by, front });
    return { ...base, dir: written, front };
  } catch (e) {
    // the front does not honour it: do not leave a flag that status would report as on
    if (!before) {
      clearMaintenance(o.stateDir, stack.env);
      await run.effects.publishMaintenance?.(dir).catch((pe: Error) => run.say(`warning: ${pe.message.split('\n')[0]}`));
    }
    throw e;
  }
}

/** Turn maintenance mode off: unlink `active`, check the front no longer answers the page. */
export async function maintenanceOff(stack: Stack, run: Run, o: { stateDir: string; dryRun?: boolean }): Promise<MaintenanceResult> {
  refuseUnsupported(stack);
  const was = readMaintenance(o.stateDir, stack.env);
  const link = path.join(maintenanceDir(o.stateDir, stack.env), ACTIVE_LINK);
  if (o.dryRun) {
    run.say(was ? `would remove ${link} (on since ${was.since ?? '?'})` : `maintenance is off: nothing to remove (${link} does not exist)`);
    run.say('dry run: nothing was changed');
    return { env: stack.env, on: Boolean(was), dry_run: true, ...(was ? {} : { unchanged: true }) };
  }
  await inCharge(stack, run, o.stateDir);
  const removed = await run.step(`maintenance off: remove ${ACTIVE_LINK}`, async () => {
    const was = clearMaintenance(o.stateDir, stack.env);
    await run.effects.publishMaintenance?.(maintenanceDir(o.stateDir, stack.env));
    return was;
  });
  const front = await run.step('check the front no longer answers the maintenance page', async () => {
    const a = await askFront(stack, await run.docker.projectContainers(stack.project));
    if ('skipped' in a) return `not checked: ${a.skipped}`;
    if (isMaintenanceAnswer(a)) throw new OperationError(`the front still answers the maintenance page at ${a.url}`);
    return `${a.url} answered ${a.status}`;
  });
  run.info('maintenance', { on: false, was_on_since: was?.since, front });
  return { env: stack.env, on: false, ...(removed ? {} : { unchanged: true }), front };
}

/** What maintenance mode is now (files only). */
export function maintenanceState(stack: Stack, stateDir: string): MaintenanceResult {
  refuseUnsupported(stack);
  const m = readMaintenance(stateDir, stack.env);
  if (!m) return { env: stack.env, on: false };
  return { env: stack.env, on: true, since: m.since, message: m.message, retry_after: m.retry_after, by: m.by, dir: path.join(maintenanceDir(stateDir, stack.env), m.folder) };
}

/**
 * `deploy --maintenance`, `rollback --maintenance`: turn it on for the run and
 * return what turns it off at the end. When it was already on (an operator
 * turned it on before), it is left on: the run did not turn it on.
 */
export async function holdMaintenance(stack: Stack, run: Run, stateDir: string, what: string): Promise<() => Promise<void>> {
  if (!readRenderedDir(renderDir(stateDir, stack.env)).some((f) => f.path.startsWith('nginx/conf.d/'))) {
    run.say(`maintenance mode: no front of ${stack.env} is in force yet (a first ${what}), so nothing to hold`);
    return async () => undefined;
  }
  const already = readMaintenance(stateDir, stack.env);
  if (already) {
    run.say(`maintenance mode is already on (since ${already.since ?? '?'}, by ${already.by ?? '?'}): it stays on after this ${what}`);
    return async () => undefined;
  }
  await maintenanceOn(stack, run, { stateDir, by: `${what} run ${run.id}`, message: `${DEFAULT_MAINTENANCE_MESSAGE.replace(/\.$/, '')} (an update is being applied).` });
  run.say(`maintenance mode on for the ${what}`);
  return async () => {
    try {
      await maintenanceOff(stack, run, { stateDir });
      run.say(`maintenance mode off: the ${what} is over`);
    } catch (e) {
      run.say(`warning: could not turn maintenance mode off after the ${what}: ${(e as Error).message.split('\n')[0]}; run lifeops maintenance off --env ${stack.env}`);
    }
  };
}
