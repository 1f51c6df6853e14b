// The Swarm target (`target: swarm`): deploy, backup, rollback, status,
// health-check and logs against a Docker Swarm through its manager, with the
// datastore containers reached on whichever node runs their task, through
// that node's engine (swarm.nodes).
//
// deploy: pre-flight (a manager, nodes ready, labels present, images on every
// node that may run them), the pre-deploy backup, migrations as a one-off
// Swarm job next to the database, `docker stack deploy`, wait until every
// service converged on the new spec (deadline), the smoke test; on failure
// the whole stack goes back to the recorded release (its archived stack file
// deployed again), not service by service.
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { stackDeploy as stackDeployArgv } from '../commands/swarm.js';
import { shellQuote } from '../commands/compose.js';
import type { Stack } from '../config/schema.js';
import { SWARM_STACK_FILE, swarmOptions, swarmServiceName } from '../render/swarm.js';
import { serviceConvergence, type Convergence } from '../plan/swarm.js';
import { parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import { configHash, renderStack, writeRendered } from './render.js';
import { lastGoodRelease, readReleases, recordRelease, type ReleaseRecord } from '../state/ledger.js';
import { releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { deployStackDir, preflight, runMigrationJob, smokeTest, swarmClient, waitConverged, dbService, readStackServices, type SwarmFlowOptions } from './swarm-common.js';
import { swarmBackup } from './swarm-backup.js';
import { checkSecrets } from './preflight.js';
import { checkMigrations } from './migrations.js';
import { OperationError } from '../errors.js';
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

/**
 * `deploy <swarm env> --dry-run`: the same pre-flight (it only reads), then
 * the steps a deploy would take with the exact `docker stack deploy` command;
 * the files are rendered into a temporary folder, so no lock, ledger, release
 * or service changes.
 */
export async function swarmDeployPlan(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult & { steps: string[] }> {
  const started = run.io.now();
  const sw = swarmClient(stack, run.env);
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  const mplan = stack.migrations ? await run.step('pre-flight: new migrations are safe', async () => checkMigrations(stack, o.stateDir, { allowDangerous: o.allowDangerousMigrations })) : undefined;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-swarm-plan-'));
  try {
    const files = renderStack(stack, scratch);
    writeRendered(files, scratch);
    await preflight(stack, run, sw, scratch);
    const db = dbService(stack);
    const dbRunning = db ? (await sw.tasks(swarmServiceName(stack, db)).catch(() => [])).some((t) => /^running/i.test(t.CurrentState)) : false;
    const version = stack.vars.VERSION ?? stack.deploy.version;
    const file = path.join(releaseArchiveDir(o.stateDir, stack.env, '<run>'), SWARM_STACK_FILE);
    const steps = [
      `render ${files.length} files (config ${configHash(files)}) into the release folder`,
      ...(dbRunning && !o.skipBackup ? ['pre-deploy backup of Postgres and Redis in their tasks'] : dbRunning ? ['no pre-deploy backup (--skip-backup)'] : []),
      ...(stack.migrations && dbRunning ? [`migrations (${mplan?.fresh.length ?? 0} new files): a one-off Swarm job next to the database`] : []),
      `docker stack deploy (version ${version})\n      $ ${shellQuote(stackDeployArgv(sw.manager, file, stack.project))}`,
      `wait until every service converged (deadline ${swarmOptions(stack).converge_timeout})`,
      ...(stack.migrations && !dbRunning ? ['migrations: a one-off Swarm job next to the database (first deploy)'] : []),
      'smoke test through the front',
      'record the release',
    ];
    run.say(`plan for ${stack.project} version ${version} on swarm (manager ${sw.manager}):`);
    steps.forEach((s, i) => run.say(`  ${String(i + 1).padStart(2)}. ${s}`));
    run.say('dry run: nothing was changed');
    return { project: stack.project, version, outcome: 'planned', nodes: (await sw.nodes()).length, converge_ms: 0, duration_ms: run.io.now().getTime() - started.getTime(), migrations_ran: false, steps };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function swarmDeploy(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult> {
  const started = run.io.now();
  const sw = swarmClient(stack, run.env);
  const opts = swarmOptions(stack);
  // the same pre-flight gates as the compose target, before anything changes
  if (stack.production) await run.step('pre-flight: production secrets are strong', async () => checkSecrets(stack));
  if (stack.migrations)
    await run.step('pre-flight: new migrations are safe', async () => {
      const p = checkMigrations(stack, o.stateDir, { allowDangerous: o.allowDangerousMigrations });
      if (p?.hits.length) run.say(`warning: ${p.hits.length} dangerous pattern(s) in new migrations allowed by --allow-dangerous-migrations`);
    });
  if (stack.production && (stack.deploy.confirm ?? true)) {
    if (!o.confirm) throw new OperationError('production deploy needs confirmation', 'add --yes');
    await o.confirm(`deploy ${stack.project} version ${stack.vars.VERSION ?? stack.deploy.version} to ${stack.env} (swarm)?`);
  }
  const lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs });
  const version = stack.vars.VERSION ?? stack.deploy.version;
  const prev = lastGoodRelease(o.stateDir, stack.env);
  let backupId: string | undefined;
  let migrationsRan = false;
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
      migrations_ran: migrationsRan,
      ...(backupId ? { backup: backupId } : {}),
      ...extra,
    });
  // the new release is staged in its archive folder; the render dir in force changes only on success
  const stage = releaseArchiveDir(o.stateDir, stack.env, run.id);
  const files = renderStack(stack, stage);
  const hash = configHash(files);
  let deployed = false;
  try {
    await run.step(`render the stack file (${files.length} files, config ${hash})`, async () => writeRendered(files, stage, 'private'));
    await preflight(stack, run, sw, stage);
    const db = dbService(stack);
    const dbRunning = db ? (await sw.tasks(swarmServiceName(stack, db)).catch(() => [])).some((t) => /^running/i.test(t.CurrentState)) : false;
    if (dbRunning && !o.skipBackup) backupId = (await run.step('pre-deploy backup', () => swarmBackup(stack, run, sw, { stateDir: o.stateDir, tag: `pre-deploy ${run.id}` }))).id;
    if (stack.migrations && dbRunning) {
      await run.step('migrations: a one-off Swarm job next to the database', async () => runMigrationJob(stack, run, sw, stage));
      migrationsRan = true;
    }
    deployed = true;
    await deployStackDir(stack, run, sw, stage, `docker stack deploy ${stack.project} (version ${version})`);
    const deadline = parseDuration(opts.converge_timeout);
    const convergeMs = await run.step(`wait until every service converged on the new spec (deadline ${opts.converge_timeout})`, () => waitConverged(stack, run, sw, deadline));
    if (stack.migrations && !dbRunning) {
      // first deploy: the database exists only now
      await run.step('migrations: a one-off Swarm job next to the database (first deploy)', async () => runMigrationJob(stack, run, sw, stage));
      migrationsRan = true;
    }
    const smoke = await run.step('smoke test through the front', () => smokeTest(stack, stage));
    await run.step('record the release', async () => {
      writeRendered(files, renderDirFor(o.stateDir, stack.env));
      record('success');
    });
    const nodes = (await sw.nodes()).length;
    return { project: stack.project, version, outcome: 'success', nodes, converge_ms: convergeMs, duration_ms: run.io.now().getTime() - started.getTime(), backup: backupId, migrations_ran: migrationsRan, smoke };
  } catch (e) {
    if (deployed && prev && existsSync(path.join(releaseArchiveDir(o.stateDir, stack.env, prev.run_id), SWARM_STACK_FILE))) {
      try {
        const back = releaseArchiveDir(o.stateDir, stack.env, prev.run_id);
        await deployStackDir(stack, run, sw, back, `undo: the whole stack back to release ${prev.run_id} (version ${prev.version})`);
        await run.step('undo: wait until every service converged on the recorded release', () => waitConverged(stack, run, sw, parseDuration(opts.converge_timeout)));
        record('rolled-back', { error: run.redactor.text((e as Error).message) });
      } catch (undoErr) {
        record('failed', { error: run.redactor.text(`${(e as Error).message}; the rollback failed too: ${(undoErr as Error).message}`) });
      }
    } else if (deployed) record('failed', { error: run.redactor.text((e as Error).message) });
    throw e;
  } finally {
    lock.release();
  }
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

export async function swarmStatus(stack: Stack, run: Run): Promise<{ project: string; nodes: { hostname: string; role: string; state: string; availability: string }[]; services: SwarmServiceStatus[]; release?: ReleaseRecord }> {
  const sw = swarmClient(stack, run.env);
  const nodes = (await sw.nodes()).map((n) => ({ hostname: n.hostname, role: n.role, state: n.state, availability: n.availability }));
  const specs = await sw.serviceSpecs(await sw.services(stack.project));
  const services = await Promise.all(
    specs.map(async (s) => {
      const tasks = await sw.tasks(s.name);
      const c = serviceConvergence(s, tasks);
      const running = tasks.filter((t) => /^running/i.test(t.CurrentState)).length;
      return {
        service: s.name,
        replicas: `${running}/${s.replicas}`,
        image: s.image.split('@')[0],
        state: c.state,
        ...(c.state !== 'converged' ? { detail: c.why } : {}),
        tasks: tasks.map((t) => ({ node: t.Node, state: t.CurrentState, ...(t.Error ? { error: t.Error } : {}) })),
      };
    }),
  );
  return { project: stack.project, nodes, services, release: readReleases(run.stateDir, stack.env).filter((r) => r.outcome === 'success').pop() };
}

export async function swarmLogs(stack: Stack, run: Run, service: string | undefined, tail: number): Promise<string> {
  const sw = swarmClient(stack, run.env);
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
      url = await smokeTest(stack, dir, 3);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return { ok: problems.length === 0, url, problems };
}
