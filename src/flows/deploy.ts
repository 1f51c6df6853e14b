// `lifeops deploy <env>`: pre-flight (nothing changes before it passes), the
// lock, then a plan made from what runs (src/plan/deploy.ts), then the
// executor runs the plan's steps in order, each logged. A failure after
// changes began is undone once: back to the last release's files and images,
// and the database restored from the pre-deploy backup only when the
// migrations changed it. `--dry-run` prints the same plan and stops there.
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { OperationError, LifeopsError } from '../errors.js';
import type { ContainerState } from '../clients/docker.js';
import { detectCompose, runChecked } from '../clients/runner.js';
import { composeEnv, dockerBuild, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { mapImage } from '../render/compose.js';
import type { RenderedFile } from '../render/index.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import type { Lock } from '../state/lock.js';
import { recordRelease, lastGoodRelease, type ReleaseRecord } from '../state/ledger.js';
import { releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { configHash, composePaths, renderStack, writeRendered, readRenderedDir, writeSecretFiles } from './render.js';
import { checkDisk, checkPorts, checkSecrets } from './preflight.js';
import { checkMigrations, fingerprintStep, migrationEffect, writeMigrationRecord, type MigrationPlan } from './migrations.js';
import { currentImageIds, exec, reloadFront, rollApps, rollingUpdate, serviceHashes, upInfrastructure, type RolloutCtx } from './rollout.js';
import { composeInputsDigest, describePlan, digestMatches, frontFiles, planRollout } from '../plan/rollout.js';
import { formatDeployPlan, planDeploy, type DeployFacts, type DeployPlan, type DeployStep, type PlannedBuild } from '../plan/deploy.js';
import { runHooks } from './hooks.js';
import { notify } from './notify.js';
import { takeBackup } from './backup.js';
import { applyRetention } from './retention.js';
import { restoreBackup, safetyBackupWithAppsStopped } from './restore.js';
import { endpointChecks } from './health.js';
import { waitHealthy } from './wait.js';


export interface DeployFlowOptions {
  stateDir: string;
  build?: boolean;
  dryRun?: boolean;
  commandLine: string;
  allowDangerousMigrations?: boolean;
  skipBackup?: boolean;
  /** --wait: how long to wait for a live run holding the lock (ms) */
  waitMs?: number;
  /** asks the operator (production); throws when refused or when there is no terminal */
  confirm?: (question: string) => Promise<void>;
}

export interface DeployResult {
  run_id: string;
  env: string;
  version: string;
  outcome: 'success' | 'failed' | 'planned';
  duration_ms: number;
  config_hash: string;
  images: Record<string, string>;
  log: string;
  plan?: DeployPlan;
}

/** How long failing endpoint checks are retried after a rollout before the release counts as failed. */
const ENDPOINT_RETRY_MS = 30_000;


/** The images this stack builds locally, one entry per image, with the services that run it. */
export function imagesToBuild(stack: Stack): Omit<PlannedBuild, 'present'>[] {
  const byImage = new Map<string, Omit<PlannedBuild, 'present'>>();
  for (const [name, svc] of Object.entries(stack.services)) {
    const image = mapImage(svc.image, stack.images);
    const known = byImage.get(image);
    if (known) {
      known.services.push(name);
      continue;
    }
    if (!svc.build) continue;
    const context = path.resolve(stack.baseDir, svc.build.context);
    const dockerfile = svc.build.dockerfile ? path.resolve(context, svc.build.dockerfile) : undefined;
    byImage.set(image, { image, services: [name], argv: dockerBuild(image, context, { dockerfile, args: svc.build.args, labels: { 'lifeops.stack': stack.name } }) });
  }
  return [...byImage.values()];
}

async function frontSmoke(stack: Stack, containers: ContainerState[]): Promise<string> {
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

/** What a deploy is about: the stack, its render, where it goes. Computed once, read by every step. */
interface DeployInputs {
  stack: Stack;
  run: Run;
  opts: DeployFlowOptions;
  files: RenderedFile[];
  hash: string;
  renderDir: string;
  target: ComposeTarget;
  version: string;
  images: Record<string, string>;
  prev?: ReleaseRecord;
}

/**
 * Read-only: the containers, compose's per-service hashes (reused from the
 * last release when its inputs are the same, else computed on a scratch copy
 * of the compose files resolved against the real render folder, so nothing in
 * force changes), image ids and the new migrations.
 */
async function observe(d: DeployInputs, compose: ComposeCli, mplan: MigrationPlan | undefined): Promise<DeployFacts> {
  const { stack, run, files, prev } = d;
  const env = { ...run.env, ...composeEnv(stack) };
  const reuse = Boolean(prev?.service_hashes) && digestMatches(prev!.inputs_digest, files, env, compose);
  const title = reuse ? `compare with what runs (compose hashes of release ${prev!.run_id}: same compose files and variables)` : 'compare with what runs (compose config --hash)';
  return run.step(title, async () => {
    const builds = imagesToBuild(stack);
    const [containers, hashes, imageIds, present] = await Promise.all([
      run.docker.projectContainers(stack.project),
      reuse ? prev!.service_hashes! : scratchHashes(d, compose),
      currentImageIds(stack, run.docker),
      Promise.all(builds.map((b) => run.docker.imageExists(b.image))),
    ]);
    const prevFiles = prev?.render_dir && existsSync(prev.render_dir) ? readRenderedDir(prev.render_dir) : undefined;
    return {
      stack,
      version: d.version,
      configHash: d.hash,
      renderDir: d.renderDir,
      fileCount: files.length,
      compose,
      target: d.target,
      containers,
      hashes,
      hashesFrom: reuse ? 'release' : 'compose',
      imageIds,
      builds: builds.map((b, i) => ({ ...b, present: present[i] })),
      ...(prev ? { prev: { run_id: prev.run_id, version: prev.version, config_hash: prev.config_hash } } : {}),
      frontChanged: prevFiles ? frontFiles(stack, prevFiles) !== frontFiles(stack, files) : 'unknown',
      ...(mplan ? { newMigrations: mplan.fresh.map((f) => f.name) } : {}),
      options: { build: d.opts.build, skipBackup: d.opts.skipBackup },
    } satisfies DeployFacts;
  });
}

async function scratchHashes(d: DeployInputs, compose: ComposeCli): Promise<Record<string, string>> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-plan-'));
  try {
    const composeFiles = composePaths(d.files, d.renderDir).map((abs) => path.relative(path.resolve(d.renderDir), abs));
    for (const rel of composeFiles) {
      const f = d.files.find((x) => x.path === rel)!;
      mkdirSync(path.dirname(path.join(scratch, rel)), { recursive: true });
      writeFileSync(path.join(scratch, rel), f.content);
    }
    // compose wants the project folder to exist; an empty one changes nothing in force
    mkdirSync(d.renderDir, { recursive: true });
    const target: ComposeTarget = { project: d.stack.project, files: composeFiles.map((rel) => path.join(scratch, rel)), projectDir: path.resolve(d.renderDir) };
    return await serviceHashes({ compose, env: composeEnv(d.stack) }, target);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function deploy(stack: Stack, run: Run, opts: DeployFlowOptions): Promise<DeployResult> {
  const started = run.io.now();
  const renderDir = renderDirFor(opts.stateDir, stack.env);
  const files = renderStack(stack, renderDir);
  const d: DeployInputs = {
    stack,
    run,
    opts,
    files,
    renderDir,
    hash: configHash(files),
    target: { project: stack.project, files: composePaths(files, renderDir) },
    version: stack.vars.VERSION ?? stack.deploy.version,
    images: Object.fromEntries(Object.entries(stack.services).map(([n, s]) => [n, mapImage(s.image, stack.images)])),
    prev: lastGoodRelease(opts.stateDir, stack.env),
  };
  const result = (outcome: DeployResult['outcome'], plan?: DeployPlan): DeployResult => ({
    run_id: run.id,
    env: stack.env,
    version: d.version,
    outcome,
    duration_ms: run.io.now().getTime() - started.getTime(),
    config_hash: d.hash,
    images: d.images,
    log: run.logFile,
    ...(plan ? { plan } : {}),
  });

  // ---- pre-flight: nothing changes before these pass
  const compose = await run.step('pre-flight: engine, compose, stack', async () => {
    const engine = await run.docker.ping();
    const found = await detectCompose();
    run.info('pre-flight', { engine, compose: `${found.kind} ${found.version}`, services: Object.keys(stack.services).length });
    return found;
  });
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  await run.step(`pre-flight: free disk (at least ${stack.deploy.min_free_disk_mb} MB)`, async () => {
    run.info('disk', { free_mb: await checkDisk(stack, opts.stateDir) });
  });
  const before = await run.docker.projectContainers(stack.project);
  await run.step('pre-flight: published ports free or ours', () => checkPorts(stack, before));
  const mplan = stack.migrations
    ? await run.step('pre-flight: new migrations are safe', async () => {
        const p = checkMigrations(stack, opts.stateDir, { allowDangerous: opts.allowDangerousMigrations });
        if (p?.hits.length) run.say(`warning: ${p.hits.length} dangerous pattern(s) in new migrations allowed by --allow-dangerous-migrations`);
        run.info('migrations', { files: p?.files.length, new: p?.fresh.map((f) => f.name) });
        return p;
      })
    : undefined;

  if (opts.dryRun) {
    const plan = planDeploy(await observe(d, compose, mplan));
    run.info('plan', plan);
    for (const line of formatDeployPlan(plan)) run.say(line);
    run.say('dry run: nothing was changed');
    return result('planned', plan);
  }
  if (stack.production && (stack.deploy.confirm ?? true)) {
    if (!opts.confirm) throw new OperationError('production deploy needs confirmation', 'add --yes');
    await opts.confirm(`deploy ${stack.project} version ${d.version} to ${stack.env}?`);
  }
  // SIGINT/SIGTERM from here on: the next step throws, the failure path undoes, the CLI exits 130/143
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  try {
    lock = await lockAndRecover(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs, title: 'take the deploy lock', handleSignals: false });
    const plan = planDeploy(await observe(d, compose, mplan));
    run.info('plan', plan);
    run.say(`plan: ${describePlan(plan.rollout)}`);
    return await execute(d, plan, compose, mplan, started, result);
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
}

/** What the executor changed so far: decides what the undo has to do. */
interface Changes {
  files: boolean;
  containers: boolean;
  backupId?: string;
  /** the migrations changed the database (schema fingerprints), or that cannot be told */
  migrationsRan: boolean;
  serviceHashes?: Record<string, string>;
}

async function execute(
  d: DeployInputs,
  plan: DeployPlan,
  compose: ComposeCli,
  mplan: MigrationPlan | undefined,
  started: Date,
  result: (outcome: DeployResult['outcome'], plan?: DeployPlan) => DeployResult,
): Promise<DeployResult> {
  const { stack, run, opts } = d;
  const ctx: RolloutCtx = { stack, run, docker: run.docker, compose, target: d.target, env: composeEnv(stack) };
  const user = os.userInfo().username;
  const changes: Changes = { files: false, containers: false, migrationsRan: false };
  const record = (outcome: ReleaseRecord['outcome'], extra: Partial<ReleaseRecord> = {}) =>
    recordRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'deploy',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version: d.version,
      user,
      images: d.images,
      config_hash: d.hash,
      outcome,
      migrations_ran: changes.migrationsRan,
      ...(changes.backupId ? { backup: changes.backupId } : {}),
      ...extra,
    });
  let containers: ContainerState[] = [];

  const runStep = async (step: DeployStep): Promise<void> => {
    switch (step.kind) {
      case 'hooks':
        if (step.phase === 'pre_deploy') return runHooks(stack, run, 'pre_deploy', d.version);
        // the release is live: a failing post-deploy hook is a warning
        return runHooks(stack, run, 'post_deploy', d.version).catch((e: Error) => run.say(`warning: ${e.message.split('\n')[0]} (the release is live)`));
      case 'backup': {
        const m = await takeBackup(stack, run, { stateDir: opts.stateDir, tag: 'pre-deploy' });
        changes.backupId = m.id;
        run.say(`pre-deploy backup: ${m.id}`);
        return;
      }
      case 'render':
        changes.files = true;
        return run.step(step.title, async () => {
          writeRendered(d.files, d.renderDir);
          const secrets = writeSecretFiles(stack, d.renderDir);
          if (secrets.length) run.info('secret files', { written: secrets });
        });
      case 'build':
        return run.step(step.title, async () => void (await runChecked(step.argv, { timeoutMs: 30 * 60_000 })));
      case 'up-infra':
        changes.containers = true;
        return void (await upInfrastructure(ctx, { recreate: step.services }));
      case 'wait-infra': {
        const subset = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([, s]) => !['web', 'worker', 'front'].includes(s.role))) } as Stack;
        return run.step(step.title, async () => void (await waitHealthy(subset, run.docker)));
      }
      case 'migrate':
        return migrate(d, ctx, step, plan, changes);
      case 'roll':
        changes.containers = true;
        return rollingUpdate(ctx, step.service);
      case 'up-apps':
        changes.containers = true;
        return exec(ctx, step.title, step.argv);
      case 'reload-front':
        return reloadFront(ctx, step.reason);
      case 'wait-healthy':
        containers = await run.step(step.title, () => waitHealthy(stack, run.docker));
        return;
      case 'checks':
        return checks(stack, run, containers, step.smoke);
      case 'record': {
        const archive = releaseArchiveDir(opts.stateDir, stack.env, run.id);
        writeRendered(d.files, archive);
        if (mplan) writeMigrationRecord(opts.stateDir, stack.env, mplan.files, run.id);
        const hashes = plan.hashes_from === 'release' ? d.prev!.service_hashes! : await serviceHashes(ctx, d.target);
        record('success', { render_dir: archive, service_hashes: hashes, inputs_digest: composeInputsDigest(d.files, { ...run.env, ...ctx.env }, compose) });
        return;
      }
      case 'retention':
        // only after a release succeeded: a failed one keeps every backup as evidence
        return void (await applyRetention(run, stack, opts.stateDir).catch((e: Error) => run.say(`warning: retention: ${e.message.split('\n')[0]} (the release is live)`)));
      case 'notify':
        return notify(stack, run, { env: stack.env, project: stack.project, version: d.version, outcome: 'success', run_id: run.id, duration_ms: run.io.now().getTime() - started.getTime(), user });
    }
  };

  try {
    for (const step of plan.steps) await runStep(step);
    return result('success', plan);
  } catch (e) {
    const err = e as Error;
    let message = err.message;
    let outcome: ReleaseRecord['outcome'] = 'failed';
    const changing = changes.files || changes.containers || Boolean(changes.backupId);
    const prevKept = Boolean(d.prev?.render_dir && existsSync(d.prev.render_dir));
    if (changing && !prevKept) {
      message = `deploy of version ${d.version} failed: ${err.message}\nno earlier release of ${stack.env} with kept rendered files to return to: the stack is left as it is${changes.backupId ? `; the data as it was before this deploy is in backup ${changes.backupId}` : ''}`;
    } else if (changes.containers || changes.migrationsRan) {
      try {
        const back = await undoDeploy(d, ctx, changes);
        outcome = 'rolled-back';
        message = `deploy of version ${d.version} failed: ${err.message}\n${back}`;
      } catch (re) {
        message = `deploy of version ${d.version} failed: ${err.message}\nAND the automatic rollback failed: ${(re as Error).message}${changes.backupId ? `\nthe data as it was before this deploy is in backup ${changes.backupId}: lifeops rollback ${changes.backupId}` : ''}`;
      }
    } else if (prevKept) {
      // only files changed: put the last release's back, nothing else was touched
      writeRendered(readRenderedDir(d.prev!.render_dir!), d.renderDir);
      if (changes.files) message = `deploy of version ${d.version} failed: ${err.message}\nthe rendered files of release ${d.prev!.run_id} were put back; no container was changed`;
    }
    record(outcome, { error: run.redactor.text(message.split('\n')[0]) });
    try {
      await runHooks(stack, run, 'on_failure', d.version, { LIFEOPS_ERROR: run.redactor.text(err.message.split('\n')[0]) });
    } catch (he) {
      run.say(`warning: ${(he as Error).message.split('\n')[0]}`);
    }
    await notify(stack, run, { env: stack.env, project: stack.project, version: d.version, outcome, run_id: run.id, duration_ms: run.io.now().getTime() - started.getTime(), user, message: message.split('\n').slice(0, 3).join('\n') });
    if (e instanceof LifeopsError && message === err.message) throw e;
    throw new OperationError(message, e instanceof LifeopsError ? e.hint : undefined);
  }
}

async function migrate(d: DeployInputs, ctx: RolloutCtx, step: Extract<DeployStep, { kind: 'migrate' }>, plan: DeployPlan, changes: Changes): Promise<void> {
  const { stack, run } = d;
  const before = await fingerprintStep(stack, run, run.docker, 'before');
  await run.step(step.title, async () => {
    // a migration that fails half-way may have changed the database: only a completed run is checked below
    changes.migrationsRan = true;
    // a database created a moment ago may still be restarting after its init scripts: retry only on a first deploy
    const attempts = plan.rollout.fresh || plan.rollout.recreate.includes(stack.postgres?.service ?? '') ? 6 : 1;
    for (let i = 1; ; i++) {
      try {
        const r = await runChecked(step.argv, { env: ctx.env, timeoutMs: 30 * 60_000 });
        run.info('migrations', { output: run.redactor.text((r.stdout + '\n' + r.stderr).trim().slice(-4000)) });
        return;
      } catch (me) {
        if (i >= attempts) throw me;
        run.info('migrations', { attempt: i, error: run.redactor.text((me as Error).message.slice(-300)) });
        await new Promise((res) => setTimeout(res, 3000));
      }
    }
  });
  const effect = migrationEffect(before, await fingerprintStep(stack, run, run.docker, 'after'), step.newFiles);
  changes.migrationsRan = effect.changed;
  run.info('migrations', effect);
  run.say(`migrations: ${effect.reason}`);
}

async function checks(stack: Stack, run: Run, containers: ContainerState[], smoke: boolean): Promise<void> {
  // the smoke test through the front starts beside the endpoint checks (both only read); a failure is retried below
  const earlySmoke = smoke ? frontSmoke(stack, containers).then((ok) => ({ ok }), (e: Error) => ({ e })) : undefined;
  await run.step('check health and readiness endpoints', async () => {
    // a loaded host can miss one check's timeout: retry failures for a while before rolling back a release
    const deadline = Date.now() + ENDPOINT_RETRY_MS;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      const results = await endpointChecks(stack, run.docker, containers);
      const bad = results.filter((c) => c.level !== 'OK');
      if (!bad.length) {
        run.info('checks', results.map((c) => `${c.check}: ${c.message} (${c.duration_ms} ms)`));
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
      run.info('smoke', 'ok' in first ? first.ok : await frontSmoke(stack, containers));
    });
  }
}

/**
 * The undo of a deploy, run once: back to the previous release's rendered
 * files (and so its images), rolling web services back without a gap; when
 * this deploy's migrations changed the database, Postgres is restored from the
 * pre-deploy backup after a safety backup. Returns what happened.
 */
async function undoDeploy(d: DeployInputs, ctx: RolloutCtx, changes: Changes): Promise<string> {
  const { stack, run, opts, prev } = d;
  const lines: string[] = [];
  if (!prev?.render_dir || !existsSync(prev.render_dir)) {
    throw new OperationError(`no previous release with kept rendered files to return to${prev ? ` (release ${prev.run_id})` : ''}`);
  }
  const prevFiles = readRenderedDir(prev.render_dir);
  await run.step(`rollback: put back the rendered files of release ${prev.run_id} (version ${prev.version})`, async () => writeRendered(prevFiles, d.renderDir));
  const target: ComposeTarget = { project: stack.project, files: composePaths(prevFiles, d.renderDir) };
  const rctx: RolloutCtx = { ...ctx, target };
  if (changes.migrationsRan && changes.backupId) {
    const apps = Object.entries(stack.services)
      .filter(([, s]) => ['web', 'worker'].includes(s.role))
      .map(([n]) => n);
    const safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'safety-before-restore', compose: ctx.compose, target, apps });
    await restoreBackup(stack, run, { stateDir: opts.stateDir, id: changes.backupId, parts: ['postgres'] });
    lines.push(`database restored from the pre-deploy backup ${changes.backupId}; the data as it was at the failure is in safety backup ${safety.id}`);
  } else if (changes.migrationsRan) {
    lines.push('migrations ran but no pre-deploy backup was taken (--skip-backup or first deploy): the database was NOT restored');
  }
  const rplan = await run.step('rollback: compare with what runs', async () => planRollout(stack, await run.docker.projectContainers(stack.project), await serviceHashes(rctx, target)));
  run.say(`rollback plan: ${describePlan(rplan)}`);
  await upInfrastructure(rctx, rplan);
  await rollApps(rctx, rplan);
  if (stack.front && rplan.unchanged.includes(stack.front.service)) await reloadFront(rctx, 'back to the previous configuration');
  await run.step('rollback: wait for every service to be healthy', () => waitHealthy(stack, run.docker));
  lines.unshift(`rolled back to the previous release ${prev.run_id} (version ${prev.version}), which is serving`);
  if (changes.backupId && !changes.migrationsRan) lines.push(`pre-deploy backup: ${changes.backupId}`);
  return lines.join('\n');
}
