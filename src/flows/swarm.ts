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
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { SwarmClient } from '../clients/swarm.js';
import { httpGet } from '../clients/http.js';
import { SWARM_STACK_FILE, replicasOf, swarmOptions, swarmServiceName } from '../render/swarm.js';
import { serviceConvergence, swarmPreflightProblems, type Convergence } from '../plan/swarm.js';
import { parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import { configHash, renderStack, writeRendered } from './render.js';
import { lastGoodRelease, readReleases, recordRelease, type ReleaseRecord } from '../state/ledger.js';
import { releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { swarmBackupDir, swarmBackupsDir } from '../state/swarm-paths.js';

export interface SwarmFlowOptions {
  stateDir: string;
  commandLine: string;
  waitMs?: number;
  skipBackup?: boolean;
}

export function swarmClient(stack: Stack, env: Record<string, string | undefined>): SwarmClient {
  const o = swarmOptions(stack);
  return new SwarmClient(o.manager ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', o.nodes);
}

interface StackFileService {
  image: string;
  deploy?: { placement?: { constraints?: string[] }; replicas?: number };
  ports?: { published: number; mode?: string }[];
}
const readStackServices = (dir: string) =>
  (parse(readFileSync(path.join(dir, SWARM_STACK_FILE), 'utf8'), { version: '1.1' }) as { services: Record<string, StackFileService> }).services;

const dbService = (stack: Stack) => stack.postgres?.service;
const redisService = (stack: Stack) => stack.redis?.service;

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
async function preflight(stack: Stack, run: Run, sw: SwarmClient, dir: string): Promise<void> {
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
    await new Promise((r) => setTimeout(r, 1000));
  }
  const pending = last.flatMap((c) => (c.state === 'pending' ? [c.why] : []));
  throw new OperationError(`the stack did not converge within ${Math.round(deadlineMs / 1000)} s: ${pending.join('; ') || 'no services'}`);
}

async function smokeTest(stack: Stack, dir: string, attempts = 10): Promise<string | undefined> {
  const url = frontUrl(stack, dir);
  if (!url) return undefined;
  let last = '';
  for (let i = 0; i < attempts; i++) {
    try {
      const r = await httpGet(url, { timeoutMs: 5000 });
      if (r.ok) return url;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new OperationError(`smoke test failed: ${url} answered ${last}`);
}

// ---------------------------------------------------------------- migrations
/**
 * Postgres answering on TCP inside its task: the image's first start runs a
 * socket-only server while it initialises, and a health check on the socket
 * passes then, before the database exists.
 */
async function waitDatabaseReady(stack: Stack, sw: SwarmClient, deadlineMs: number): Promise<void> {
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
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new OperationError(`the database did not accept connections within ${Math.round(deadlineMs / 1000)} s: ${last}`);
}

/** The migrations as a one-off Swarm job on the database's node and networks; its log is returned. */
async function runMigrationJob(stack: Stack, run: Run, sw: SwarmClient, dir: string): Promise<string> {
  const m = stack.migrations!;
  await waitDatabaseReady(stack, sw, parseDuration(swarmOptions(stack).converge_timeout));
  const services = readStackServices(dir);
  const image = services[m.service]?.image;
  if (!image) throw new OperationError(`migrations.service ${m.service} is not in the stack`);
  const name = `${stack.project}_migrate`;
  await sw.removeService(name); // a leftover from a crashed run
  const envFile = path.join(os.tmpdir(), `lifeops-migrate-${run.id}.env`);
  const env = stack.services[m.service]?.environment ?? {};
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n', { mode: 0o600 });
  try {
    const nets = Object.keys((parse(readFileSync(path.join(dir, SWARM_STACK_FILE), 'utf8'), { version: '1.1' }) as { networks?: object }).networks ?? { default: {} });
    const command = Array.isArray(m.command) ? m.command : ['sh', '-c', m.command];
    await sw.createJob({
      name,
      image,
      command,
      networks: nets.map((n) => `${stack.project}_${n}`),
      constraints: [swarmOptions(stack).data_constraint],
      envFile,
      labels: { 'lifeops.project': stack.project, 'lifeops.oneoff': 'migrate', 'lifeops.run': run.id },
    });
  } finally {
    rmSync(envFile, { force: true });
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
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await sw.removeService(name);
  }
}

// ---------------------------------------------------------------- backup
export interface SwarmBackupManifest {
  id: string;
  project: string;
  env: string;
  time: string;
  target: 'swarm';
  tag?: string;
  /** the release in force when the backup was taken (its stack file and configs are under release/) */
  release: { run_id?: string; version: string };
  files: Record<string, { sha256: string; size: number }>;
  nodes: Record<string, string>;
}

const sha256File = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

export async function swarmBackup(stack: Stack, run: Run, sw: SwarmClient, o: { stateDir: string; tag?: string }): Promise<SwarmBackupManifest> {
  const id = `${run.io.now().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${run.id.slice(-6)}`;
  const final = swarmBackupDir(o.stateDir, stack.env, id);
  const tmp = `${final}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const nodes: Record<string, string> = {};
  try {
    const db = dbService(stack);
    if (db && stack.postgres) {
      await run.step(`backup: pg_dump in ${db}'s task, on its node`, async () => {
        const t = await sw.taskContainer(swarmServiceName(stack, db));
        nodes.postgres = t.node;
        await sw.execToFile(t.engine, t.container, ['pg_dump', '-U', stack.postgres!.user, '-d', stack.postgres!.database, '--format=custom', '--no-owner'], path.join(tmp, 'postgres.dump'));
        return t.node;
      });
    }
    const cache = redisService(stack);
    if (cache) {
      await run.step(`backup: redis SAVE in ${cache}'s task, then its dump.rdb`, async () => {
        const t = await sw.taskContainer(swarmServiceName(stack, cache));
        nodes.redis = t.node;
        const save = await sw.exec(t.engine, t.container, ['redis-cli', 'SAVE']);
        if (save.exitCode !== 0 || !/OK/.test(save.output)) throw new OperationError(`redis SAVE failed: ${save.output}`);
        const dir = (await sw.exec(t.engine, t.container, ['redis-cli', '--raw', 'CONFIG', 'GET', 'dir'])).output.split('\n')[1]?.trim() || '/data';
        await sw.execToFile(t.engine, t.container, ['cat', `${dir}/dump.rdb`], path.join(tmp, 'redis.rdb'));
        return t.node;
      });
    }
    const last = lastGoodRelease(o.stateDir, stack.env);
    const inForce = renderDirFor(o.stateDir, stack.env);
    if (existsSync(path.join(inForce, SWARM_STACK_FILE))) cpSync(inForce, path.join(tmp, 'release'), { recursive: true });
    const files: SwarmBackupManifest['files'] = {};
    for (const f of ['postgres.dump', 'redis.rdb']) {
      const p = path.join(tmp, f);
      if (existsSync(p)) files[f] = { sha256: sha256File(p), size: statSync(p).size };
    }
    const manifest: SwarmBackupManifest = {
      id,
      project: stack.project,
      env: stack.env,
      time: run.io.now().toISOString(),
      target: 'swarm',
      ...(o.tag ? { tag: o.tag } : {}),
      release: { run_id: last?.run_id, version: last?.version ?? stack.vars.VERSION ?? stack.deploy.version },
      files,
      nodes,
    };
    // the manifest last: a folder without one is not a backup
    writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n', { mode: 0o600 });
    renameSync(tmp, final);
    return manifest;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function listSwarmBackups(stateDir: string, env: string): SwarmBackupManifest[] {
  const dir = swarmBackupsDir(stateDir, env);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => existsSync(path.join(dir, d, 'manifest.json')))
    .map((d) => JSON.parse(readFileSync(path.join(dir, d, 'manifest.json'), 'utf8')) as SwarmBackupManifest)
    .sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

function readSwarmBackup(stateDir: string, env: string, id: string): { dir: string; manifest: SwarmBackupManifest } {
  const all = listSwarmBackups(stateDir, env);
  const m = id === 'latest' ? all[all.length - 1] : all.find((b) => b.id === id);
  if (!m) throw new OperationError(`no swarm backup ${id} for environment ${env}`, `known: ${all.map((b) => b.id).join(', ') || 'none (run lifeops backup first)'}`);
  const dir = swarmBackupDir(stateDir, env, m.id);
  for (const [f, want] of Object.entries(m.files)) {
    const p = path.join(dir, f);
    if (!existsSync(p) || sha256File(p) !== want.sha256) throw new OperationError(`backup ${m.id}: ${f} does not match its checksum (corrupt or changed); nothing was restored`);
  }
  return { dir, manifest: m };
}

// ---------------------------------------------------------------- deploy
export interface SwarmDeployResult {
  project: string;
  version: string;
  outcome: 'success' | 'rolled-back';
  nodes: number;
  converge_ms: number;
  duration_ms: number;
  backup?: string;
  migrations_ran: boolean;
  smoke?: string;
}

async function deployStackDir(stack: Stack, run: Run, sw: SwarmClient, dir: string, title: string): Promise<void> {
  await run.step(title, () => sw.stackDeploy(path.join(dir, SWARM_STACK_FILE), stack.project, { ...stack.vars }, dir));
}

export async function swarmDeploy(stack: Stack, run: Run, o: SwarmFlowOptions): Promise<SwarmDeployResult> {
  const started = run.io.now();
  const sw = swarmClient(stack, run.env);
  const opts = swarmOptions(stack);
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
    await run.step(`render the stack file (${files.length} files, config ${hash})`, async () => writeRendered(files, stage));
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
export async function swarmBackupFlow(stack: Stack, run: Run, o: SwarmFlowOptions & { tag?: string }): Promise<SwarmBackupManifest> {
  const sw = swarmClient(stack, run.env);
  const lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs });
  try {
    return await swarmBackup(stack, run, sw, { stateDir: o.stateDir, tag: o.tag });
  } finally {
    lock.release();
  }
}

/**
 * Back to a backup: data and release. The app services are scaled to 0, the
 * database restored in its task (on its node), Redis' dump put back and the
 * server restarted by Swarm, then the release recorded with the backup is
 * deployed again and must converge and pass the smoke test.
 */
export async function swarmRollback(stack: Stack, run: Run, o: SwarmFlowOptions & { backup: string }): Promise<{ backup: string; version: string; converge_ms: number }> {
  const sw = swarmClient(stack, run.env);
  const opts = swarmOptions(stack);
  const started = run.io.now();
  const { dir, manifest } = readSwarmBackup(o.stateDir, stack.env, o.backup);
  const releaseDir = path.join(dir, 'release');
  if (!existsSync(path.join(releaseDir, SWARM_STACK_FILE))) throw new OperationError(`backup ${manifest.id} carries no stack file to return to`);
  const lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs });
  try {
    const apps = Object.entries(stack.services)
      .filter(([n, s]) => ['web', 'worker', 'job', 'other'].includes(s.role) && n !== dbService(stack) && n !== redisService(stack))
      .map(([n]) => swarmServiceName(stack, n));
    const present = new Set(await sw.services(stack.project));
    const scaleDown = Object.fromEntries(apps.filter((a) => present.has(a)).map((a) => [a, 0]));
    if (Object.keys(scaleDown).length) await run.step(`stop the app services (${Object.keys(scaleDown).join(', ')}: 0 replicas)`, () => sw.scale(scaleDown));
    const db = dbService(stack);
    if (db && stack.postgres && manifest.files['postgres.dump']) {
      await run.step(`restore Postgres in ${db}'s task, on its node`, async () => {
        const t = await sw.taskContainer(swarmServiceName(stack, db));
        const { user, database } = stack.postgres!;
        // the database as it was, not merged with what came after: dropped and created again (the apps are stopped)
        const ident = `"${database.replace(/"/g, '""')}"`;
        const recreate = await sw.exec(t.engine, t.container, ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`, '-c', `CREATE DATABASE ${ident}`]);
        if (recreate.exitCode !== 0) throw new OperationError(`could not recreate database ${database}: ${recreate.output}`);
        await sw.execFromFile(t.engine, t.container, ['pg_restore', '-U', user, '-d', database, '--no-owner', '--single-transaction', '--exit-on-error'], path.join(dir, 'postgres.dump'));
        return t.node;
      });
    }
    const cache = redisService(stack);
    if (cache && manifest.files['redis.rdb']) {
      await run.step(`restore Redis in ${cache}'s task: dump.rdb in place, then a restart without saving`, async () => {
        const t = await sw.taskContainer(swarmServiceName(stack, cache));
        const dataDir = (await sw.exec(t.engine, t.container, ['redis-cli', '--raw', 'CONFIG', 'GET', 'dir'])).output.split('\n')[1]?.trim() || '/data';
        await sw.execFromFile(t.engine, t.container, ['sh', '-c', `cat > ${dataDir}/dump.rdb.restore && mv ${dataDir}/dump.rdb.restore ${dataDir}/dump.rdb`], path.join(dir, 'redis.rdb'));
        await sw.exec(t.engine, t.container, ['redis-cli', 'SHUTDOWN', 'NOSAVE']);
        return t.node;
      });
    }
    await deployStackDir(stack, run, sw, releaseDir, `docker stack deploy: the release recorded with backup ${manifest.id} (version ${manifest.release.version})`);
    if (Object.keys(scaleDown).length) {
      // the stack file's replica counts come back with the deploy; services whose spec did not change need an explicit scale
      const back = Object.fromEntries(Object.keys(scaleDown).map((a) => [a, replicasOf(stack, a.slice(stack.project.length + 1))]));
      const specReplicas = readStackServices(releaseDir);
      for (const a of Object.keys(back)) back[a] = specReplicas[a.slice(stack.project.length + 1)]?.deploy?.replicas ?? back[a];
      await run.step('start the app services again', () => sw.scale(back));
    }
    const convergeMs = await run.step(`wait until every service converged (deadline ${opts.converge_timeout})`, () => waitConverged(stack, run, sw, parseDuration(opts.converge_timeout)));
    await run.step('smoke test through the front', () => smokeTest(stack, releaseDir));
    writeRendered(
      readdirSync(releaseDir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name !== '.lifeops-rendered.json')
        .map((d) => {
          const p = path.join(d.parentPath, d.name);
          return { path: path.relative(releaseDir, p).split(path.sep).join('/'), content: readFileSync(p, 'utf8') };
        }),
      renderDirFor(o.stateDir, stack.env),
    );
    const archive = releaseArchiveDir(o.stateDir, stack.env, run.id);
    cpSync(releaseDir, archive, { recursive: true });
    recordRelease(o.stateDir, {
      run_id: run.id,
      kind: 'rollback',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version: manifest.release.version,
      user: os.userInfo().username,
      images: Object.fromEntries(Object.entries(readStackServices(releaseDir)).map(([n, s]) => [n, s.image])),
      config_hash: '',
      outcome: 'success',
      backup: manifest.id,
    });
    return { backup: manifest.id, version: manifest.release.version, converge_ms: convergeMs };
  } finally {
    lock.release();
  }
}

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
