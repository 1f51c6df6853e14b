// Swarm backups and the rollback to one: the database dumped and Redis
// saved in their tasks, on whichever node runs them (through that node's
// engine), with the stack file in force; the rollback restores both and
// deploys that stack file again.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { SwarmClient } from '../clients/swarm.js';
import { SWARM_STACK_FILE, swarmOptions, swarmServiceName } from '../render/swarm.js';
import { parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import { writeRendered } from './render.js';
import { mkdirPrivate, tightenTree, writePrivate } from '../util/private-files.js';
import { lastGoodRelease, recordRelease } from '../state/ledger.js';
import { releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { swarmBackupDir, swarmBackupsDir } from '../state/swarm-paths.js';
import { deployStackDir, smokeTest, swarmClient, waitConverged, dbService, redisService, readStackServices, type SwarmFlowOptions } from './swarm-common.js';
import { restorePostgres, restoreRedis, startApps, stopApps } from './swarm-restore.js';

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
  // a suffix of its own, not the run's: one run can take two backups within a second (pre-deploy, then the undo's safety backup)
  const id = `${run.io.now().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
  const final = swarmBackupDir(o.stateDir, stack.env, id);
  const tmp = `${final}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirPrivate(tmp);
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
        const save = await sw.execChange(t.engine, t.container, ['redis-cli', 'SAVE']);
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
    tightenTree(tmp); // the rendered files copied in keep the render folder's modes otherwise
    writePrivate(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
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

export function readSwarmBackup(stateDir: string, env: string, id: string): { dir: string; manifest: SwarmBackupManifest } {
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

export async function swarmBackupFlow(stack: Stack, run: Run, o: SwarmFlowOptions & { tag?: string }): Promise<SwarmBackupManifest> {
  const sw = swarmClient(stack, run);
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
  const sw = swarmClient(stack, run);
  const opts = swarmOptions(stack);
  const started = run.io.now();
  const { dir, manifest } = readSwarmBackup(o.stateDir, stack.env, o.backup);
  const releaseDir = path.join(dir, 'release');
  if (!existsSync(path.join(releaseDir, SWARM_STACK_FILE))) throw new OperationError(`backup ${manifest.id} carries no stack file to return to`);
  if (stack.production) {
    if (!o.confirm) throw new OperationError('production rollback needs confirmation', 'add --yes');
    await o.confirm(`roll ${stack.project} back to backup ${manifest.id} (data AND release, swarm)?`);
  }
  const lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs });
  try {
    // the data as it is now, before anything is replaced: the way back from a wrong rollback
    const db0 = dbService(stack);
    const dbRunning = db0 ? (await sw.tasks(swarmServiceName(stack, db0)).catch(() => [])).some((t) => /^running/i.test(t.CurrentState)) : false;
    const safety = dbRunning ? (await run.step('safety backup of the data in force', () => swarmBackup(stack, run, sw, { stateDir: o.stateDir, tag: `before rollback ${run.id}` }))).id : undefined;
    if (safety) run.say(`the data before this rollback is in backup ${safety}`);
    const scaleDown = await stopApps(stack, run, sw);
    if (stack.postgres && manifest.files['postgres.dump']) await restorePostgres(stack, run, sw, path.join(dir, 'postgres.dump'));
    if (manifest.files['redis.rdb']) await restoreRedis(stack, run, sw, path.join(dir, 'redis.rdb'));
    await deployStackDir(stack, run, sw, releaseDir, `docker stack deploy: the release recorded with backup ${manifest.id} (version ${manifest.release.version})`);
    await startApps(stack, run, sw, scaleDown, releaseDir);
    const convergeMs = await run.step(`wait until every service converged (deadline ${opts.converge_timeout})`, () => waitConverged(stack, run, sw, parseDuration(opts.converge_timeout)));
    await run.step('smoke test through the front', () => smokeTest(stack, run, releaseDir));
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
    mkdirPrivate(path.dirname(archive));
    cpSync(releaseDir, archive, { recursive: true });
    tightenTree(archive);
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
