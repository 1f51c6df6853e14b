// `lifeops deploy <env>`: pre-flight, render, build, compose up, wait for
// health, check endpoints, record the release. Each step is logged.
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { OperationError, LifeopsError } from '../errors.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { detectCompose, runChecked } from '../clients/runner.js';
import { composeConfigHash, composeRun, composeUp, composeUpNoDeps, dockerBuild, shellQuote, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { mapImage } from '../render/compose.js';
import { Run } from './context.js';
import { Lock } from './lock.js';
import { appendRelease, readReleases, type ReleaseRecord } from './ledger.js';
import { configHash, composePaths, renderDirFor, renderStack, writeRendered, readRenderedDir, writeSecretFiles } from './render.js';
import { checkDisk, checkPorts, checkSecrets } from './preflight.js';
import { checkMigrations, fingerprintStep, migrationCommand, migrationEffect, writeMigrationRecord } from './migrations.js';
import { composeInputsDigest, currentImageIds, describePlan, digestMatches, frontFiles, planRollout, reloadFront, rollApps, rollingUpdate, serviceHashes, strategyOf, upInfrastructure, type RolloutCtx } from './rollout.js';
import { runHooks } from './hooks.js';
import { notify } from './notify.js';
import { takeBackup } from './backup.js';
import { applyRetention } from './retention.js';
import { restoreBackup, safetyBackupWithAppsStopped } from './restore.js';
import { endpointChecks, expectedServices } from './health.js';
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

/** How long failing endpoint checks are retried after a rollout before the release counts as failed. */
const ENDPOINT_RETRY_MS = 30_000;

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

export interface DeployFlowOptions extends DeployOptions {
  allowDangerousMigrations?: boolean;
  skipBackup?: boolean;
  /** asks the operator (production); throws when refused or when there is no terminal */
  confirm?: (question: string) => Promise<void>;
}

/** Where a successful release's rendered files are kept, so a later failure can return to them. */
export function releaseArchiveDir(stateDir: string, env: string, runId: string): string {
  return path.join(stateDir, 'releases', env, runId);
}

function lastGoodRelease(stateDir: string, env: string): ReleaseRecord | undefined {
  return readReleases(stateDir, env)
    .filter((r) => r.outcome === 'success')
    .pop();
}

async function frontSmoke(stack: Stack, docker: DockerClient, containers: ContainerState[]): Promise<string> {
  if (!stack.front) return 'no front';
  const front = containers.find((c) => c.service === stack.front!.service && c.state === 'running');
  if (!front) throw new OperationError(`front service ${stack.front.service} is not running`);
  const port = front.ports[stack.front.listen_port] ?? Object.values(front.ports)[0];
  if (!port) return 'front publishes no port on 127.0.0.1; checked from inside the containers only';
  const web = Object.values(stack.services).find((s) => s.role === 'web' && s.http);
  const paths = [web?.http?.health ?? '/health', ...(web?.http?.ready ? [web.http.ready] : [])];
  for (const p of paths) {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(10_000), headers: { host: stack.front.domains[0].name } });
    if (!res.ok) throw new OperationError(`smoke test through the front: GET ${p} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
  return `${paths.join(' and ')} answered 200 through 127.0.0.1:${port}`;
}

export async function deploy(stack: Stack, run: Run, opts: DeployFlowOptions): Promise<DeployResult> {
  const started = run.io.now();
  const docker = new DockerClient();
  const renderDir = renderDirFor(opts.stateDir, stack.env);
  const files = renderStack(stack, renderDir);
  const hash = configHash(files);
  const target: ComposeTarget = { project: stack.project, files: composePaths(files, renderDir) };
  const version = stack.vars.VERSION ?? stack.deploy.version;
  const images = Object.fromEntries(Object.entries(stack.services).map(([n, s]) => [n, mapImage(s.image, stack.images)]));
  const prev = lastGoodRelease(opts.stateDir, stack.env);
  const user = os.userInfo().username;
  let compose!: ComposeCli;
  let lock: Lock | undefined;
  let backupId: string | undefined;
  // true only when the migration run changed the database (schema fingerprints), or when that cannot be told
  let migrationsRan = false;
  let serviceHashesUsed: Record<string, string> | undefined;
  let changing = false;

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
  const record = (outcome: ReleaseRecord['outcome'], extra: Partial<ReleaseRecord> = {}) =>
    appendRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'deploy',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version,
      user,
      images,
      config_hash: hash,
      outcome,
      migrations_ran: migrationsRan,
      ...(backupId ? { backup: backupId } : {}),
      ...extra,
    });

  // ---- pre-flight: nothing changes before these pass
  await run.step('pre-flight: engine, compose, stack', async () => {
    const engine = await docker.ping();
    compose = await detectCompose();
    run.info('pre-flight', { engine, compose: `${compose.kind} ${compose.version}`, services: Object.keys(stack.services).length });
  });
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  await run.step(`pre-flight: free disk (at least ${stack.deploy.min_free_disk_mb} MB)`, async () => {
    run.info('disk', { free_mb: await checkDisk(stack, opts.stateDir) });
  });
  const before = await docker.projectContainers(stack.project);
  await run.step('pre-flight: published ports free or ours', () => checkPorts(stack, before));
  const mplan = stack.migrations
    ? await run.step('pre-flight: new migrations are safe', async () => {
        const p = checkMigrations(stack, opts.stateDir, { allowDangerous: opts.allowDangerousMigrations });
        if (p?.hits.length) run.say(`warning: ${p.hits.length} dangerous pattern(s) in new migrations allowed by --allow-dangerous-migrations`);
        run.info('migrations', { files: p?.files.length, new: p?.fresh.map((f) => f.name) });
        return p;
      })
    : undefined;
  if (stack.production && (stack.deploy.confirm ?? true) && !opts.dryRun) {
    if (!opts.confirm) throw new OperationError('production deploy needs confirmation', 'add --yes');
    await opts.confirm(`deploy ${stack.project} version ${version} to ${stack.env}?`);
  }

  const ctx: RolloutCtx = { stack, run, docker, compose, target, env: composeEnv(stack), dryRun: opts.dryRun };

  if (opts.dryRun) {
    run.say(`dry run: nothing below is executed`);
    for (const h of stack.deploy.hooks.pre_deploy) run.say(`would run hook pre-deploy: sh -c ${shellQuote([h])}`);
    if (stack.backup.before_deploy && !opts.skipBackup) run.say(`would take a pre-deploy backup (lifeops backup --tag pre-deploy) if the configuration changed (last release ${prev?.config_hash ?? 'none'}, this one ${hash})`);
    run.say(`would render ${files.length} files into ${renderDir} (config ${hash})`);
    for (const b of imagesToBuild(stack)) run.say(`would run: ${shellQuote(b.argv)} (if ${b.image} is missing${opts.build ? ', or always with --build' : ''})`);
    run.say(`would run: ${shellQuote(composeConfigHash(compose, target))} (to find which services changed)`);
    const plan = planRollout(stack, [], {});
    const infra = plan.recreate.filter((n) => !['web', 'worker', 'front'].includes(stack.services[n].role));
    if (infra.length) run.say(`would run: ${shellQuote(composeUpNoDeps(compose, target, infra))} (changed infrastructure only)`);
    if (stack.migrations) run.say(`would run: ${shellQuote(composeRun(compose, target, stack.migrations.service, migrationCommand(stack)))} (when migrations are new or the ${stack.migrations.service} image changed)`);
    const rollingNames = Object.entries(stack.services)
      .filter(([, s]) => s.replicas > 0 && strategyOf(s) === 'rolling')
      .map(([n]) => n);
    for (const n of rollingNames) await rollingUpdate(ctx, n);
    run.say(`would run: ${shellQuote(composeUp(compose, target))}`);
    const prevFiles = prev?.render_dir && existsSync(prev.render_dir) ? readRenderedDir(prev.render_dir) : undefined;
    if (stack.front && (!prevFiles || frontFiles(stack, prevFiles) !== frontFiles(stack, files))) await reloadFront(ctx, 'if the front keeps running: its configuration changed');
    run.say('would wait for every service to be healthy, check /health and /ready from inside and through the front, and roll back automatically on failure');
    for (const h of stack.deploy.hooks.post_deploy) run.say(`would run hook post-deploy: sh -c ${shellQuote([h])}`);
    for (const n of stack.deploy.notifications) run.say(`would notify ${n.type}`);
    return result('success');
  }

  await run.step('take the deploy lock', async () => {
    lock = Lock.acquire(opts.stateDir, stack.env, opts.commandLine, run.io.now());
  });
  try {
    await runHooks(stack, run, 'pre_deploy', version);
    const dbRunning = stack.postgres ? before.some((c) => c.service === stack.postgres!.service && c.state === 'running') : false;
    const sameConfig = prev?.config_hash === hash && before.filter((c) => c.state === 'running').length > 0;
    if (stack.backup.before_deploy && !opts.skipBackup) {
      if (!dbRunning && !before.length) run.say('no running stack yet: no pre-deploy backup needed');
      else if (sameConfig) run.say('configuration unchanged since the last release: no pre-deploy backup needed');
      else {
        const m = await takeBackup(stack, run, { stateDir: opts.stateDir, tag: 'pre-deploy' });
        backupId = m.id;
        run.say(`pre-deploy backup: ${backupId}`);
      }
    } else if (opts.skipBackup) run.say('pre-deploy backup skipped (--skip-backup)');
    await run.step(`render ${files.length} files`, async () => {
      writeRendered(files, renderDir);
      const secrets = writeSecretFiles(stack, renderDir);
      if (secrets.length) run.info('secret files', { written: secrets });
    });
    for (const b of imagesToBuild(stack)) {
      if (!opts.build && (await docker.imageExists(b.image))) continue;
      await run.step(`build ${b.image}`, () => runChecked(b.argv, { timeoutMs: 30 * 60_000 }));
    }
    const composeInputs = { ...process.env, ...ctx.env };
    const reuse = prev?.service_hashes && digestMatches(prev.inputs_digest, files, composeInputs, compose);
    const plan = await run.step(reuse ? `compare with what runs (compose hashes of release ${prev!.run_id}: same compose files and variables)` : 'compare with what runs (compose config --hash)', async () => {
      const [containers, hashes, imageIds] = await Promise.all([docker.projectContainers(stack.project), reuse ? prev!.service_hashes! : serviceHashes(ctx), currentImageIds(stack, docker)]);
      serviceHashesUsed = hashes;
      return planRollout(stack, containers, hashes, imageIds);
    });
    run.info('plan', plan);
    run.say(`plan: ${describePlan(plan)}`);
    changing = true;
    const infra = await upInfrastructure(ctx, plan);
    if (infra.length || plan.fresh) {
      const subset = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([, s]) => !['web', 'worker', 'front'].includes(s.role))) } as Stack;
      await run.step('wait for databases and other infrastructure to be healthy', () => waitHealthy(subset, docker));
    }
    if (stack.migrations && mplan) {
      const m = stack.migrations;
      const imageChanged = !plan.unchanged.includes(m.service);
      if (mplan.fresh.length || imageChanged) {
        const before = await fingerprintStep(stack, run, docker, 'before');
        await run.step(`migrations: ${shellQuote(migrationCommand(stack))} in a one-off ${m.service} container (${mplan.fresh.length} new file${mplan.fresh.length === 1 ? '' : 's'})`, async () => {
          // a migration that fails half-way may have changed the database: only a completed run is checked below
          migrationsRan = true;
          // a database created a moment ago may still be restarting after its init scripts: retry only on a first deploy
          const attempts = plan.fresh || infra.includes(stack.postgres?.service ?? '') ? 6 : 1;
          let r!: Awaited<ReturnType<typeof runChecked>>;
          for (let i = 1; ; i++) {
            try {
              r = await runChecked(composeRun(compose, target, m.service, migrationCommand(stack)), { env: composeEnv(stack), timeoutMs: 30 * 60_000 });
              break;
            } catch (me) {
              if (i >= attempts) throw me;
              run.info('migrations', { attempt: i, error: run.redactor.text((me as Error).message.slice(-300)) });
              await new Promise((res) => setTimeout(res, 3000));
            }
          }
          run.info('migrations', { output: run.redactor.text((r.stdout + '\n' + r.stderr).trim().slice(-4000)) });
        });
        const effect = migrationEffect(before, await fingerprintStep(stack, run, docker, 'after'), mplan.fresh.length);
        migrationsRan = effect.changed;
        run.info('migrations', effect);
        run.say(`migrations: ${effect.reason}`);
      } else run.say('migrations: nothing new and the image is unchanged');
    }
    await rollApps(ctx, plan);
    const prevFiles = prev?.render_dir && existsSync(prev.render_dir) ? readRenderedDir(prev.render_dir) : undefined;
    if (stack.front && plan.unchanged.includes(stack.front.service) && (!prevFiles || frontFiles(stack, prevFiles) !== frontFiles(stack, files))) {
      await reloadFront(ctx, prevFiles ? 'its configuration changed' : 'no earlier release to compare with');
    }
    const containers = await run.step('wait for every service to be healthy', () => waitHealthy(stack, docker));
    // the smoke test through the front starts beside the endpoint checks (both only read); a failure is retried below
    const earlySmoke = stack.deploy.smoke_test ? frontSmoke(stack, docker, containers).then((ok) => ({ ok }), (e: Error) => ({ e })) : undefined;
    await run.step('check health and readiness endpoints', async () => {
      // a loaded host can miss one check's timeout: retry failures for a while before rolling back a release
      const deadline = Date.now() + ENDPOINT_RETRY_MS;
      for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
        const checks = await endpointChecks(stack, docker, containers);
        const bad = checks.filter((c) => c.level !== 'OK');
        if (!bad.length) {
          run.info('checks', checks.map((c) => `${c.check}: ${c.message} (${c.duration_ms} ms)`));
          return;
        }
        const summary = bad.map((c) => `${c.check}: ${c.message}`).join('; ');
        if (Date.now() + delay > deadline) throw new OperationError(`checks failed for ${ENDPOINT_RETRY_MS / 1000}s: ${summary}`);
        run.info('checks', { retrying_in_ms: delay, failing: run.redactor.text(summary) });
        await new Promise((r) => setTimeout(r, delay));
      }
    });
    if (earlySmoke) {
      await run.step('smoke test through the front', async () => {
        const first = await earlySmoke;
        run.info('smoke', 'ok' in first ? first.ok : await frontSmoke(stack, docker, containers));
      });
    }
    const archive = releaseArchiveDir(opts.stateDir, stack.env, run.id);
    writeRendered(files, archive);
    if (mplan) writeMigrationRecord(opts.stateDir, stack.env, mplan.files, run.id);
    const res = result('success');
    record('success', { render_dir: archive, ...(serviceHashesUsed ? { service_hashes: serviceHashesUsed, inputs_digest: composeInputsDigest(files, { ...process.env, ...ctx.env }, compose) } : {}) });
    try {
      await runHooks(stack, run, 'post_deploy', version);
    } catch (e) {
      run.say(`warning: ${(e as Error).message.split('\n')[0]} (the release is live)`);
    }
    if (backupId) {
      // only after a release succeeded: a failed one keeps every backup as evidence
      await applyRetention(run, stack, opts.stateDir).catch((e: Error) => run.say(`warning: retention: ${e.message.split('\n')[0]} (the release is live)`));
    }
    await notify(stack, run, { env: stack.env, project: stack.project, version, outcome: 'success', run_id: run.id, duration_ms: res.duration_ms, user });
    return res;
  } catch (e) {
    if (!lock) throw e;
    const err = e as Error;
    let message = err.message;
    let outcome: ReleaseRecord['outcome'] = 'failed';
    if ((changing || backupId) && !(prev?.render_dir && existsSync(prev.render_dir))) {
      message = `deploy of version ${version} failed: ${err.message}\nno earlier release of ${stack.env} with kept rendered files to return to: the stack is left as it is${backupId ? `; the data as it was before this deploy is in backup ${backupId}` : ''}`;
    } else if (changing || backupId) {
      try {
        const back = await autoRollback(stack, run, opts, ctx, prev, { migrationsRan, backupId });
        outcome = 'rolled-back';
        message = `deploy of version ${version} failed: ${err.message}\n${back}`;
      } catch (re) {
        message = `deploy of version ${version} failed: ${err.message}\nAND the automatic rollback failed: ${(re as Error).message}${backupId ? `\nthe data as it was before this deploy is in backup ${backupId}: lifeops rollback ${backupId}` : ''}`;
      }
    } else if (prev?.render_dir && existsSync(prev.render_dir)) {
      writeRendered(readRenderedDir(prev.render_dir), renderDir);
    }
    record(outcome, { error: run.redactor.text(message.split('\n')[0]) });
    try {
      await runHooks(stack, run, 'on_failure', version, { LIFEOPS_ERROR: run.redactor.text(err.message.split('\n')[0]) });
    } catch (he) {
      run.say(`warning: ${(he as Error).message.split('\n')[0]}`);
    }
    await notify(stack, run, { env: stack.env, project: stack.project, version, outcome, run_id: run.id, duration_ms: run.io.now().getTime() - started.getTime(), user, message: message.split('\n').slice(0, 3).join('\n') });
    if (e instanceof LifeopsError && message === err.message) throw e;
    throw new OperationError(message, e instanceof LifeopsError ? e.hint : undefined);
  } finally {
    lock?.release();
  }
}

/**
 * Return to the previous release's rendered files (and so its images), rolling
 * web services back without a gap; when this deploy ran migrations, restore
 * Postgres from the pre-deploy backup after a safety backup. Returns what happened.
 */
async function autoRollback(
  stack: Stack,
  run: Run,
  opts: DeployFlowOptions,
  ctx: RolloutCtx,
  prev: ReleaseRecord | undefined,
  state: { migrationsRan: boolean; backupId?: string },
): Promise<string> {
  const lines: string[] = [];
  const docker = ctx.docker;
  const renderDir = renderDirFor(opts.stateDir, stack.env);
  if (!prev?.render_dir || !existsSync(prev.render_dir)) {
    throw new OperationError(`no previous release with kept rendered files to return to${prev ? ` (release ${prev.run_id})` : ''}`);
  }
  const prevFiles = readRenderedDir(prev.render_dir);
  await run.step(`rollback: put back the rendered files of release ${prev.run_id} (version ${prev.version})`, async () => writeRendered(prevFiles, renderDir));
  const target: ComposeTarget = { project: stack.project, files: composePaths(prevFiles, renderDir) };
  const rctx: RolloutCtx = { ...ctx, target, dryRun: false };
  if (state.migrationsRan && state.backupId) {
    const apps = Object.entries(stack.services)
      .filter(([, s]) => ['web', 'worker'].includes(s.role))
      .map(([n]) => n);
    const safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'safety-before-restore', compose: ctx.compose, target, apps });
    await restoreBackup(stack, run, { stateDir: opts.stateDir, id: state.backupId, parts: ['postgres'] });
    lines.push(`database restored from the pre-deploy backup ${state.backupId}; the data as it was at the failure is in safety backup ${safety.id}`);
  } else if (state.migrationsRan) {
    lines.push('migrations ran but no pre-deploy backup was taken (--skip-backup or first deploy): the database was NOT restored');
  }
  const plan = await run.step('rollback: compare with what runs', async () => planRollout(stack, await docker.projectContainers(stack.project), await serviceHashes(rctx)));
  run.say(`rollback plan: ${describePlan(plan)}`);
  await upInfrastructure(rctx, plan);
  await rollApps(rctx, plan);
  if (stack.front && plan.unchanged.includes(stack.front.service)) await reloadFront(rctx, 'back to the previous configuration');
  await run.step('rollback: wait for every service to be healthy', () => waitHealthy(stack, docker));
  lines.unshift(`rolled back to the previous release ${prev.run_id} (version ${prev.version}), which is serving`);
  if (state.backupId && !state.migrationsRan) lines.push(`pre-deploy backup: ${state.backupId}`);
  return lines.join('\n');
}
