// `lifeops deploy <env>`: pre-flight (nothing changes before it passes), the
// lock, then a plan made from what runs (src/plan/deploy.ts), then the
// executor runs the plan's steps in order, each logged. A failure after
// changes began is undone once: back to the last release's files and images,
// and the database restored from the pre-deploy backup only when the
// migrations changed it. `--dry-run` prints the same plan and stops there.
import { dryRunEffects, type Effects } from './effects.js';
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdirPrivate } from '../util/private-files.js';
import type { Stack } from '../config/schema.js';
import { DiskSpaceError, OperationError } from '../errors.js';
import { composeEnv, dockerBuild, secretBuildArgs, shellQuote, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { namedVolumes } from '../render/compose.js';
import { mapImage } from '../config/images.js';
import { volumeName } from '../backup/volumes.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import type { Lock } from '../state/lock.js';
import { lastGoodRelease } from '../state/ledger.js';
import { renderDir as renderDirFor } from '../state/paths.js';
import { configHash, composePaths, renderStack, readRenderedDir } from './render.js';
import { checkDisk, checkPorts, checkSecrets } from './preflight.js';
import { checkMigrations, type MigrationPlan } from './migrations.js';
import { currentImageIds, serviceHashes } from './rollout.js';
import { describePlan, digestMatches, frontFiles } from '../plan/rollout.js';
import { adopting } from '../plan/adopt.js';
import { monitoringFilesChanged, monitoringServices } from '../plan/monitoring.js';
import { plainComposeText } from '../render/compose-adopt.js';
import { datastores, formatDeployPlan, planDeploy, type DeployFacts, type DeployPlan, type PlannedBuild } from '../plan/deploy.js';
import { execute } from './deploy-execute.js';
import { acmeFront, certifiedDomains } from './certs.js';
import { ensureWebroot } from '../state/certs.js';
import { holdMaintenance } from './maintenance.js';
import type { DeployFlowOptions, DeployInputs, DeployResult } from './deploy-types.js';
import { checkImageRoom } from './prune.js';
import { describeRoom, mb, roomRefusal } from '../plan/prune.js';
import { pulledImages } from '../plan/pull-room.js';
import { notHeld } from './pull-room.js';
import { composeFiles } from '../render/index.js';
import type { ContainerState } from '../clients/docker.js';

export type { DeployFlowOptions, DeployResult } from './deploy-types.js';


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
    byImage.set(image, { image, services: [name], argv: dockerBuild(image, context, { dockerfile, target: svc.build.target, args: svc.build.args, fromEnv: secretBuildArgs(stack, name), labels: { 'lifeops.stack': stack.name } }) });
  }
  return [...byImage.values()];
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
    const [containers, hashes, imageIds, present, storedData] = await Promise.all([
      run.docker.projectContainers(stack.project),
      reuse ? prev!.service_hashes! : scratchHashes(d, compose),
      // the monitoring override's services too: a retagged local image recreates them like any service
      currentImageIds(stack, run.docker).then(async (ids) => ({ ...ids, ...Object.fromEntries(await Promise.all(monitoringServices(stack).map(async (m) => [m.service, await run.docker.imageId(m.image)] as const))) })),
      Promise.all(builds.map((b) => run.docker.imageExists(b.image))),
      keptVolumes(stack, run.effects),
    ]);
    if (!reuse) d.plannedHashes = { files, hashes };
    // adoption: containers plain compose started are compared with the plain form of this release
    const plainHashes = adopting(containers) ? await scratchHashes(d, compose, (text) => plainComposeText(stack, text)) : undefined;
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
      monitoringChanged: monitoringFilesChanged(prevFiles, files),
      ...(mplan ? { newMigrations: mplan.fresh.map((f) => f.name) } : {}),
      storedData,
      options: { build: d.opts.build, skipBackup: d.opts.skipBackup },
      ...(plainHashes ? { plainHashes } : {}),
    } satisfies DeployFacts;
  });
}

/** The datastores with a named volume of theirs in the engine (their data is kept even where no container is left). */
/** The datastores whose named volumes exist on the engine (asked through the run's port: a read). */
export async function keptVolumes(stack: Stack, port: Pick<Effects, 'read'>): Promise<string[]> {
  const wanted = datastores(stack).map((n) => [n, namedVolumes({ ...stack, services: { [n]: stack.services[n] } }).map((v) => volumeName(stack, v))] as const);
  if (!wanted.some(([, vols]) => vols.length)) return [];
  const argv = ['docker', 'volume', 'ls', '-q'];
  const r = await port.read(argv, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${(r.stderr || r.stdout).split('\n').slice(-15).join('\n')}`);
  const have = new Set(r.stdout.split('\n').map((l) => l.trim()));
  return wanted.filter(([, vols]) => vols.some((v) => have.has(v))).map(([n]) => n);
}

async function scratchHashes(d: DeployInputs, compose: ComposeCli, transform: (text: string) => string = (t) => t): Promise<Record<string, string>> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-plan-'));
  try {
    const composeFiles = composePaths(d.files, d.renderDir).map((abs) => path.relative(path.resolve(d.renderDir), abs));
    for (const rel of composeFiles) {
      const f = d.files.find((x) => x.path === rel)!;
      mkdirSync(path.dirname(path.join(scratch, rel)), { recursive: true });
      writeFileSync(path.join(scratch, rel), transform(f.content));
    }
    // compose wants the project folder to exist; an empty one changes nothing in force
    mkdirPrivate(d.renderDir);
    const target: ComposeTarget = { project: d.stack.project, files: composeFiles.map((rel) => path.join(scratch, rel)), projectDir: path.resolve(d.renderDir) };
    return await serviceHashes({ compose, env: composeEnv(d.stack), run: d.run }, target);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Pre-flight before any build or pull: room on the engine's data root for the
 * images the plan builds and those compose will pull (not held by the engine),
 * refused with the figures (exit 2) before anything changed.
 */
async function imageRoom(d: DeployInputs, plan: DeployPlan, containers: ContainerState[]): Promise<void> {
  const images = new Set(plan.steps.flatMap((s) => (s.kind === 'build' ? [s.image] : [])));
  const stackBuilds = imagesToBuild(d.stack);
  const builds = stackBuilds.filter((b) => images.has(b.image));
  const composeTexts = composeFiles(d.files).map((p) => d.files.find((f) => f.path === p)!.content);
  const pulls = await notHeld(d.run, pulledImages(composeTexts, stackBuilds.map((b) => b.image)));
  if (!builds.length && !pulls.length) return;
  const running = Object.fromEntries(containers.filter((c) => c.state === 'running').map((c) => [c.service, c.imageId]));
  const counts = [builds.length ? `${builds.length} image(s) to build` : '', pulls.length ? `${pulls.length} image(s) to pull` : ''].filter(Boolean).join(' and ');
  await d.run.step(`pre-flight: room on the Docker data root for ${counts}`, async () => {
    const room = await checkImageRoom(d.stack, d.run, builds, running, pulls);
    if (!room) return d.run.info('disk', "the engine's data root is not a local path: not measured");
    d.run.info('disk', { free: mb(room.free_bytes), needed: mb(room.needed_bytes), images: room.images.map((i) => `${i.action} ${i.image}: ${mb(i.estimate_bytes)} (${i.from})`), unsized: room.unsized });
    for (const line of describeRoom(room, d.stack.deploy.min_free_disk_mb)) d.run.say(line);
    if (room.ok) return;
    throw new DiskSpaceError(roomRefusal(room, d.stack.deploy.min_free_disk_mb), `free space first: lifeops -f ${d.stack.file} prune --env ${d.stack.env} (old releases' images), or lower deploy.min_free_disk_mb`);
  });
}

export async function deploy(stack: Stack, run: Run, opts: DeployFlowOptions): Promise<DeployResult> {
  const started = run.io.now();
  // a dry run may read but never change: a change attempted through the effects port throws
  if (opts.dryRun) run.effects = dryRunEffects;
  const renderDir = renderDirFor(opts.stateDir, stack.env);
  // front.tls.acme: a domain is rendered with HTTPS once its certificate is installed (the certificates step gets it)
  const files = renderStack(stack, renderDir, certifiedDomains(stack, opts.stateDir));
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
    const found = await run.compose();
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
    await imageRoom(d, plan, before);
    if (opts.maintenance) run.say('maintenance mode (--maintenance): on before the first step, off after the last (also after a failure and its undo)');
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
    // the same per-service table and steps --dry-run prints, so a log shows what was decided and why
    for (const line of formatDeployPlan(plan)) run.say(line);
    run.say(`plan: ${describePlan(plan.rollout)}`);
    // the front mounts the ACME webroot and certificates from the state dir: they exist before it starts
    if (acmeFront(stack)) ensureWebroot(opts.stateDir, stack.env);
    await imageRoom(d, plan, before);
    const release = opts.maintenance ? await holdMaintenance(stack, run, opts.stateDir, 'deploy') : undefined;
    try {
      return await execute(d, plan, compose, mplan, started, result);
    } finally {
      // after the executor's own undo on a failure
      await release?.();
    }
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
}
