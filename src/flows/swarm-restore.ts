// Putting data back on a Swarm, shared by the rollback to a backup
// (swarm-backup.ts) and the undo of a failed deploy (swarm.ts): the app
// services stopped and started again, Postgres restored in its task, Redis'
// dump put back, and the schema fingerprint that tells whether migrations
// changed the database at all.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { SwarmClient } from '../clients/swarm.js';
import { replicasOf, swarmServiceName } from '../render/swarm.js';
import type { Run } from './context.js';
import { FINGERPRINT_SQL, combineFingerprints, parseFingerprint, type FingerprintResult } from './migrations.js';
import { dbService, redisService, readStackServices } from './swarm-common.js';

/** The app services (web, worker, job, other) of the stack that run now, each scaled to 0; returns what was stopped. */
export async function stopApps(stack: Stack, run: Run, sw: SwarmClient, title = 'stop the app services'): Promise<Record<string, number>> {
  const apps = Object.entries(stack.services)
    .filter(([n, s]) => ['web', 'worker', 'job', 'other'].includes(s.role) && n !== dbService(stack) && n !== redisService(stack))
    .map(([n]) => swarmServiceName(stack, n));
  const present = new Set(await sw.services(stack.project));
  const scaleDown = Object.fromEntries(apps.filter((a) => present.has(a)).map((a) => [a, 0]));
  if (Object.keys(scaleDown).length) await run.step(`${title} (${Object.keys(scaleDown).join(', ')}: 0 replicas)`, () => sw.scale(scaleDown));
  return scaleDown;
}

/**
 * The stopped app services back to the replica counts of the stack file in
 * `releaseDir` (a `docker stack deploy` of a spec that did not change leaves
 * them at 0, so the scale is explicit).
 */
export async function startApps(stack: Stack, run: Run, sw: SwarmClient, stopped: Record<string, number>, releaseDir: string, title = 'start the app services again'): Promise<void> {
  if (!Object.keys(stopped).length) return;
  const spec = readStackServices(releaseDir);
  const back = Object.fromEntries(
    Object.keys(stopped).map((a) => {
      const short = a.slice(stack.project.length + 1);
      return [a, spec[short]?.deploy?.replicas ?? replicasOf(stack, short)];
    }),
  );
  await run.step(title, () => sw.scale(back));
}

/**
 * The database as it was in `dumpFile` (pg_dump custom format), not merged
 * with what came after: dropped and created again in its task, on its node,
 * then pg_restore in one transaction. The app services must be stopped.
 */
export async function restorePostgres(stack: Stack, run: Run, sw: SwarmClient, dumpFile: string, title?: string): Promise<void> {
  const db = dbService(stack);
  if (!db || !stack.postgres) return;
  await run.step(title ?? `restore Postgres in ${db}'s task, on its node`, async () => {
    const t = await sw.taskContainer(swarmServiceName(stack, db));
    const { user, database } = stack.postgres!;
    const ident = `"${database.replace(/"/g, '""')}"`;
    const recreate = await sw.execChange(t.engine, t.container, ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`, '-c', `CREATE DATABASE ${ident}`]);
    if (recreate.exitCode !== 0) throw new OperationError(`could not recreate database ${database}: ${recreate.output}`);
    await sw.execFromFile(t.engine, t.container, ['pg_restore', '-U', user, '-d', database, '--no-owner', '--single-transaction', '--exit-on-error'], dumpFile);
    return t.node;
  });
}

/**
 * Redis' dump.rdb from `rdbFile` in place in its task, then a restart without
 * saving (Swarm starts the task again, which loads the file). redis-cli in
 * the task authenticates through REDISCLI_AUTH, which the rendered service
 * carries when the stack sets redis.password.
 */
export async function restoreRedis(stack: Stack, run: Run, sw: SwarmClient, rdbFile: string): Promise<void> {
  const cache = redisService(stack);
  if (!cache) return;
  await run.step(`restore Redis in ${cache}'s task: dump.rdb in place, then a restart without saving`, async () => {
    const t = await sw.taskContainer(swarmServiceName(stack, cache));
    const dirOut = await sw.exec(t.engine, t.container, ['redis-cli', '--raw', 'CONFIG', 'GET', 'dir']);
    if (dirOut.exitCode !== 0 || /NOAUTH|WRONGPASS/.test(dirOut.output)) throw new OperationError(`redis in ${cache}'s task refused lifeops: ${dirOut.output.trim().split('\n')[0]}`);
    const dataDir = dirOut.output.split('\n')[1]?.trim() || '/data';
    // A save point or a background save finishing after the copy would write
    // today's data over the restored file (seen under load): no saves from
    // here on, and none still running, before the file goes in.
    const off = await sw.execChange(t.engine, t.container, ['redis-cli', 'CONFIG', 'SET', 'save', '']);
    if (off.exitCode !== 0 || !/OK/.test(off.output)) throw new OperationError(`redis CONFIG SET save failed: ${off.output}`);
    for (let i = 0; ; i++) {
      const info = (await sw.exec(t.engine, t.container, ['redis-cli', 'INFO', 'persistence'])).output;
      if (/rdb_bgsave_in_progress:0/.test(info) && !/aof_rewrite_in_progress:1/.test(info)) break;
      if (i >= 120) throw new OperationError(`redis in ${cache}'s task is still saving after 60 s; nothing was replaced`);
      await sw.sleep(500);
    }
    await sw.execFromFile(t.engine, t.container, ['sh', '-c', `cat > ${dataDir}/dump.rdb.restore && mv ${dataDir}/dump.rdb.restore ${dataDir}/dump.rdb`], rdbFile);
    await sw.execChange(t.engine, t.container, ['redis-cli', 'SHUTDOWN', 'NOSAVE']);
    return t.node;
  });
}

/** The schema fingerprint of the stack's database, taken with psql in its task (flows/migrations.ts FINGERPRINT_SQL). */
export async function swarmFingerprint(stack: Stack, run: Run, sw: SwarmClient, when: 'before' | 'after'): Promise<FingerprintResult> {
  const db = dbService(stack);
  return run.step(`migrations: schema fingerprint ${when}`, async () => {
    try {
      if (!db || !stack.postgres) throw new Error('no postgres service');
      const t = await sw.taskContainer(swarmServiceName(stack, db));
      const r = await sw.exec(t.engine, t.container, ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', stack.postgres.user, '-d', stack.postgres.database, '-c', FINGERPRINT_SQL]);
      if (r.exitCode !== 0) throw new Error(r.output.trim().split('\n').pop() ?? `psql exit ${r.exitCode}`);
      const f = combineFingerprints({ [stack.postgres.database]: parseFingerprint(r.output) }, `docker exec psql in ${db}'s task on ${t.node}`);
      run.info('migrations', { fingerprint: when, hash: f.hash, via: f.via });
      return f;
    } catch (e) {
      const error = run.redactor.text((e as Error).message.split('\n')[0]).slice(0, 300);
      run.info('migrations', { fingerprint: when, error });
      return { error };
    }
  });
}
