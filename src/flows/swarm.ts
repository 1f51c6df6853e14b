// The Swarm target (`target: swarm`): deploy, backup, rollback, status,
// health-check and logs against a Docker Swarm through its manager, with the
// datastore containers reached on whichever node runs their task, through
// that node's engine (swarm.nodes).
//
// deploy: pre-flight (a manager, nodes ready, labels present, images on every
// node that may run them), the pre-deploy backup, migrations as a one-off
// Swarm job next to the database, `docker stack deploy`, wait until every
// service converged on the new spec (deadline), the smoke test; on failure
// (or SIGINT/SIGTERM) the whole stack goes back to the recorded release (its
// archived stack file deployed again), not service by service, and when the
// migrations changed the database it is restored from the pre-deploy backup
// first (after a safety backup of the data as it is then).
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { shellQuote } from '../commands/compose.js';
import type { Stack } from '../config/schema.js';
import { SWARM_STACK_FILE, swarmOptions, swarmServiceName } from '../render/swarm.js';
import { serviceConvergence, type Convergence, type SwarmStatusFacts } from '../plan/swarm.js';
import { parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import { configHash, renderStack, writeRendered } from './render.js';
import { lastGoodRelease, readReleases, recordRelease, type ReleaseRecord } from '../state/ledger.js';
import { lockFile, releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { deployStackDir, preflight, runMigrationJob, smokeTest, swarmClient, waitConverged, dbService, redisService, readStackServices, migrationJob, type SwarmFlowOptions } from './swarm-common.js';
import { planSwarmDeploy, type MigrationJob, type SwarmDeployFacts, type SwarmDeployStep } from '../plan/swarm-deploy.js';
import { refusingChanges } from './effects.js';
import { swarmBackup } from './swarm-backup.js';
import { checkSecrets } from './preflight.js';
import { checkMigrations, migrationEffect, writeMigrationRecord, type MigrationPlan } from './migrations.js';
import { LifeopsError, OperationError } from '../errors.js';
import type { Lock } from '../state/lock.js';
import type { SwarmClient } from '../clients/swarm.js';
import { listSwarmBackups, readSwarmBackup } from './swarm-backup.js';
import { isStale, readLock } from '../state/lock.js';
import { restorePostgres, startApps, stopApps, swarmFingerprint } from './swarm-restore.js';
export { swarmBackupFlow, swarmRollback } from './swarm-backup.js';

// ---------------------------------------------------------------- deploy
export interface SwarmDeployResult {
  project: string;
  version: string;
  outcome: 'success' | 'rolled-back' | 'planned';
  nodes: number;
  converge_ms: number;
  duration_ms: number;
  backup?: string;
  migrations_ran: boolean;
  smoke?: string;
}

/** What the plan needs that only the swarm can tell: whether the database runs, the Redis task, a leftover migration job. */
async function observe(stack: Stack, run: Run, sw: SwarmClient, o: SwarmFlowOptions, dir: string, stackFile: string, mplan: MigrationPlan | undefined): Promise<SwarmDeployFacts> {
  const db = dbService(stack);
  const dbRunning = db ? (await sw.tasks(swarmServiceName(stack, db)).catch(() => [])).some((t) => /^running/i.test(t.CurrentState)) : false;
  const cache = redisService(stack);
  const cacheTask = dbRunning && !o.skipBackup && cache ? await sw.taskContainer(swarmServiceName(stack, cache)).catch(() => undefined) : undefined;
  const job = migrationJob(stack, dir, run.id);
  return {
    stack,
    version: stack.vars.VERSION ?? stack.deploy.version,
    manager: sw.manager,
    stackFile,
    dbRunning,
    skipBackup: o.skipBackup,
    freshMigrations: mplan?.fresh.length ?? 0,
    ...(cacheTask ? { cacheTask: { engine: cacheTask.engine, container: cacheTask.container } } : {}),
    ...(job ? { job, leftoverJob: await sw.hasService(job.name) } : {}),
    convergeTimeout: swarmOptions(stack).converge_timeout,
  };
}

/** The plan as people read it: each step, and under it each command that changes the swarm. */
export const planLines = (steps: SwarmDeployStep[]): string[] => steps.map((s) => [s.title, ...s.commands.map((c) => `      $ ${shellQuote(c)}`)].join('\n'));

/**
 * `deploy <swarm env> --dry-run`: the same pre-flight (it only reads), then
 * the plan a deploy would run, with every command that changes the swarm; the
 * files are rendered into a temporary folder, so no lock, ledger, release or
 * service changes. The run's port refuses any change that would be reached.
 */
export async function swarmDeployPlan(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult & { steps: string[]; plan: SwarmDeployStep[] }> {
  const own = run.effects;
  run.effects = refusingChanges(own);
  try {
    return await planOnly(stack, run, o);
  } finally {
    run.effects = own;
  }
}

async function planOnly(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult & { steps: string[]; plan: SwarmDeployStep[] }> {
  const started = run.io.now();
  const sw = swarmClient(stack, run);
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  const mplan = stack.migrations ? await run.step('pre-flight: new migrations are safe', async () => checkMigrations(stack, o.stateDir, { allowDangerous: o.allowDangerousMigrations })) : undefined;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-swarm-plan-'));
  try {
    const files = renderStack(stack, scratch);
    writeRendered(files, scratch);
    await preflight(stack, run, sw, scratch);
    // the stack file as this run would deploy it: in its release folder
    const facts = await observe(stack, run, sw, o, scratch, path.join(releaseArchiveDir(o.stateDir, stack.env, run.id), SWARM_STACK_FILE), mplan);
    const plan = planSwarmDeploy(facts);
    const steps = [`render ${files.length} files (config ${configHash(files)}) into the release folder`, ...(facts.dbRunning && o.skipBackup ? ['no pre-deploy backup (--skip-backup)'] : []), ...planLines(plan)];
    run.say(`plan for ${stack.project} version ${facts.version} on swarm (manager ${sw.manager}):`);
    steps.forEach((s, i) => run.say(`  ${String(i + 1).padStart(2)}. ${s}`));
    run.say('dry run: nothing was changed');
    return { project: stack.project, version: facts.version, outcome: 'planned', nodes: (await sw.nodes()).length, converge_ms: 0, duration_ms: run.io.now().getTime() - started.getTime(), migrations_ran: false, steps, plan };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function swarmDeploy(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult> {
  const started = run.io.now();
  const sw = swarmClient(stack, run);
  // the same pre-flight gates as the compose target, before anything changes
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  const mplan = stack.migrations
    ? await run.step('pre-flight: new migrations are safe', async () => {
        const p = checkMigrations(stack, o.stateDir, { allowDangerous: o.allowDangerousMigrations });
        if (p?.hits.length) run.say(`warning: ${p.hits.length} dangerous pattern(s) in new migrations allowed by --allow-dangerous-migrations`);
        return p;
      })
    : undefined;
  if (stack.production && (stack.deploy.confirm ?? true)) {
    if (!o.confirm) throw new OperationError('production deploy needs confirmation', 'add --yes');
    await o.confirm(`deploy ${stack.project} version ${stack.vars.VERSION ?? stack.deploy.version} to ${stack.env} (swarm)?`);
  }
  // SIGINT/SIGTERM from here on: the next step throws, the failure path undoes, the CLI exits 130/143
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  try {
    lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs, handleSignals: false });
    return await deployLocked(stack, run, o, sw, started, mplan);
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
}

async function deployLocked(stack: Stack, run: Run, o: SwarmFlowOptions, sw: SwarmClient, started: Date, mplan: MigrationPlan | undefined): Promise<SwarmDeployResult> {
  const opts = swarmOptions(stack);
  const version = stack.vars.VERSION ?? stack.deploy.version;
  const prev = lastGoodRelease(o.stateDir, stack.env);
  const changes: SwarmChanges = { deployed: false, migrationsRan: false, dbChanged: false };
  const record = (outcome: ReleaseRecord['outcome'], extra: Partial<ReleaseRecord> = {}) =>
    recordRelease(o.stateDir, {
      run_id: run.id,
      kind: 'deploy',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version,
      user: os.userInfo().username,
      images: Object.fromEntries(Object.entries(readStackServices(stage)).map(([n, s]) => [n, s.image])),
      config_hash: hash,
      outcome,
      migrations_ran: changes.migrationsRan,
      ...(changes.backupId ? { backup: changes.backupId } : {}),
      ...extra,
    });
  // the new release is staged in its archive folder; the render dir in force changes only on success
  const stage = releaseArchiveDir(o.stateDir, stack.env, run.id);
  const files = renderStack(stack, stage);
  const hash = configHash(files);
  /** the migrations as a job; whether they changed the database is told by the schema fingerprint before and after */
  const migrate = async (step: SwarmDeployStep, job: MigrationJob) => {
    const before = step.first ? undefined : await swarmFingerprint(stack, run, sw, 'before');
    // a job that fails half-way may have changed the database: counted as changed unless shown otherwise
    changes.migrationsRan = true;
    changes.dbChanged = !step.first;
    await run.step(step.title, async () => runMigrationJob(stack, sw, job));
    if (!before) return;
    const effect = migrationEffect(before, await swarmFingerprint(stack, run, sw, 'after'), mplan?.fresh.length ?? 0);
    changes.dbChanged = effect.changed;
    run.info('migrations', effect);
    run.say(`migrations: ${effect.reason}`);
  };
  try {
    await run.step(`render the stack file (${files.length} files, config ${hash})`, async () => writeRendered(files, stage, 'private'));
    await preflight(stack, run, sw, stage);
    const facts = await observe(stack, run, sw, o, stage, path.join(stage, SWARM_STACK_FILE), mplan);
    const plan = planSwarmDeploy(facts);
    run.info('plan', plan.map((p) => ({ kind: p.kind, commands: p.commands.length })));
    let convergeMs = 0;
    let smoke: string | undefined;
    // each step of the plan, in order: the commands it lists are the ones that run
    for (const step of plan) {
      if (step.kind === 'backup') changes.backupId = (await run.step(step.title, () => swarmBackup(stack, run, sw, { stateDir: o.stateDir, tag: `pre-deploy ${run.id}` }))).id;
      else if (step.kind === 'migrate') await migrate(step, facts.job!);
      else if (step.kind === 'stack-deploy') {
        changes.deployed = true;
        await deployStackDir(stack, run, sw, stage, step.title);
      } else if (step.kind === 'converge') convergeMs = await run.step(step.title, () => waitConverged(stack, run, sw, parseDuration(opts.converge_timeout)));
      else if (step.kind === 'smoke') smoke = await run.step(step.title, () => smokeTest(stack, run, stage));
      else
        await run.step(step.title, async () => {
          writeRendered(files, renderDirFor(o.stateDir, stack.env));
          if (mplan) writeMigrationRecord(o.stateDir, stack.env, mplan.files, run.id);
          record('success');
        });
    }
    const nodes = (await sw.nodes()).length;
    return { project: stack.project, version, outcome: 'success', nodes, converge_ms: convergeMs, duration_ms: run.io.now().getTime() - started.getTime(), backup: changes.backupId, migrations_ran: changes.migrationsRan, smoke };
  } catch (e) {
    if (!changes.deployed && !changes.dbChanged) throw e; // nothing in force changed
    const prevDir = prev ? releaseArchiveDir(o.stateDir, stack.env, prev.run_id) : undefined;
    let back: string;
    try {
      back = await undoSwarmDeploy(stack, run, sw, o, changes, prev && prevDir && existsSync(path.join(prevDir, SWARM_STACK_FILE)) ? { ...prev, dir: prevDir } : undefined, stage);
    } catch (undoErr) {
      const why = `deploy of version ${version} failed: ${(e as Error).message}\nAND the undo failed: ${(undoErr as Error).message}${changes.backupId ? `\nthe data as it was before this deploy is in backup ${changes.backupId}: lifeops rollback ${changes.backupId} --env ${stack.env}` : ''}`;
      record('failed', { error: run.redactor.text(why.split('\n')[0]) });
      throw new OperationError(why);
    }
    run.say(back);
    record('rolled-back', { error: run.redactor.text((e as Error).message.split('\n')[0]) });
    throw new OperationError(`deploy of version ${version} failed: ${(e as Error).message}\n${back}`, e instanceof LifeopsError ? e.hint : undefined);
  }
}

interface SwarmChanges {
  deployed: boolean;
  migrationsRan: boolean;
  /** the migrations changed the database (or may have: a job that failed, a fingerprint that could not be taken) */
  dbChanged: boolean;
  backupId?: string;
}

/**
 * Back to where the deploy started: when the migrations changed the database,
 * a safety backup of the data as it is now, the app services stopped and the
 * database restored from the pre-deploy backup; then the previous release's
 * stack file deployed again, the apps started and the stack converged.
 */
async function undoSwarmDeploy(stack: Stack, run: Run, sw: SwarmClient, o: SwarmFlowOptions, c: SwarmChanges, prev: (ReleaseRecord & { dir: string }) | undefined, stage: string): Promise<string> {
  run.beginUndo();
  const opts = swarmOptions(stack);
  const restore = c.dbChanged && c.backupId && stack.postgres;
  if (!prev && !restore) throw new OperationError(`no earlier release of ${stack.env} with a kept stack file to return to: the stack is left as it is`);
  const done: string[] = [];
  let stopped: Record<string, number> = {};
  if (restore) {
    const safety = await run.step('undo: safety backup of the data in force', () => swarmBackup(stack, run, sw, { stateDir: o.stateDir, tag: `before undo ${run.id}` }));
    stopped = await stopApps(stack, run, sw, 'undo: stop the app services');
    const { dir } = readSwarmBackup(o.stateDir, stack.env, c.backupId!);
    await restorePostgres(stack, run, sw, path.join(dir, 'postgres.dump'), `undo: restore Postgres from the pre-deploy backup ${c.backupId}`);
    done.push(`the database was restored from the pre-deploy backup ${c.backupId} (the data as it was before the undo is in backup ${safety.id})`);
  }
  if (prev) {
    await deployStackDir(stack, run, sw, prev.dir, `undo: the whole stack back to release ${prev.run_id} (version ${prev.version})`);
    done.push(`the stack is back on release ${prev.run_id} (version ${prev.version})`);
  }
  await startApps(stack, run, sw, stopped, prev?.dir ?? stage, 'undo: start the app services again');
  await run.step('undo: wait until every service converged', () => waitConverged(stack, run, sw, parseDuration(opts.converge_timeout)));
  return `undone: ${done.join('; ')}`;
}

// ---------------------------------------------------------------- backup / rollback commands
// ---------------------------------------------------------------- status, health, logs
export interface SwarmServiceStatus {
  service: string;
  replicas: string;
  image: string;
  state: Convergence['state'];
  detail?: string;
  tasks: { node: string; state: string; error?: string }[];
}

export async function swarmStatus(stack: Stack, run: Run): Promise<{ project: string; nodes: { hostname: string; role: string; state: string; availability: string }[]; services: SwarmServiceStatus[]; release?: ReleaseRecord; facts: SwarmStatusFacts }> {
  const t0 = Date.now();
  const sw = swarmClient(stack, run);
  const nodes = (await sw.nodes()).map((n) => ({ hostname: n.hostname, role: n.role, state: n.state, availability: n.availability }));
  const specs = await sw.serviceSpecs(await sw.services(stack.project));
  const seen = await Promise.all(
    specs.map(async (s) => {
      const tasks = await sw.tasks(s.name);
      return { spec: s, tasks, convergence: serviceConvergence(s, tasks), running: tasks.filter((t) => /^running/i.test(t.CurrentState)).length };
    }),
  );
  const services = seen.map(({ spec: s, tasks, convergence: c, running }) => ({
    service: s.name,
    replicas: `${running}/${s.replicas}`,
    image: s.image.split('@')[0],
    state: c.state,
    ...(c.state !== 'converged' ? { detail: c.why } : {}),
    tasks: tasks.map((t) => ({ node: t.Node, state: t.CurrentState, ...(t.Error ? { error: t.Error } : {}) })),
  }));
  const releases = readReleases(run.stateDir, stack.env);
  const last = releases.filter((r): r is ReleaseRecord & { kind: 'deploy' | 'rollback' } => r.kind === 'deploy' || r.kind === 'rollback').pop();
  const first = releases.find((r) => r.kind === 'deploy' && r.outcome === 'success');
  const backups = listSwarmBackups(run.stateDir, stack.env);
  const newest = backups[backups.length - 1];
  const l = readLock(lockFile(run.stateDir, stack.env));
  const facts: SwarmStatusFacts = {
    project: stack.project,
    env: stack.env,
    now: run.io.now().toISOString(),
    duration_ms: Date.now() - t0,
    nodes,
    services: seen.map(({ spec: s, tasks, convergence, running }) => ({ service: s.name, running, expected: s.replicas, image: s.image.split('@')[0], convergence, tasks })),
    ...(last ? { release: { kind: last.kind, outcome: last.outcome, time: last.time, version: last.version, run_id: last.run_id } } : {}),
    ...(first ? { due_since: first.time } : {}),
    backups: { count: backups.length, ...(newest ? { newest: { id: newest.id, time: newest.time, size: Object.values(newest.files).reduce((n, f) => n + f.size, 0) } } : {}), duration_ms: 0 },
    lock: l ? { held: true, since: l.since, stale: isStale(l), holder: `pid ${l.pid} on ${l.host}` } : { held: false },
  };
  return { project: stack.project, nodes, services, release: releases.filter((r) => r.outcome === 'success').pop(), facts };
}

export async function swarmLogs(stack: Stack, run: Run, service: string | undefined, tail: number): Promise<string> {
  const sw = swarmClient(stack, run);
  const names = service ? [swarmServiceName(stack, service)] : await sw.services(stack.project);
  const parts = await Promise.all(names.map(async (n) => sw.logs(n, tail)));
  return run.redactor.text(parts.filter(Boolean).join('\n'));
}

export async function swarmHealthCheck(stack: Stack, run: Run): Promise<{ ok: boolean; url?: string; problems: string[] }> {
  const st = await swarmStatus(stack, run);
  const problems = [
    ...st.nodes.filter((n) => n.state !== 'ready').map((n) => `node ${n.hostname} is ${n.state}`),
    ...st.services.filter((s) => s.state !== 'converged').map((s) => s.detail ?? `${s.service} not converged`),
  ];
  if (!st.services.length) problems.push(`stack ${stack.project} has no services (not deployed?)`);
  let url: string | undefined;
  const dir = renderDirFor(run.stateDir, stack.env);
  if (existsSync(path.join(dir, SWARM_STACK_FILE))) {
    try {
      url = await smokeTest(stack, run, dir, 3);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return { ok: problems.length === 0, url, problems };
}
