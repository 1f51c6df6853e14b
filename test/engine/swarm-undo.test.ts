// The swarm target's undo, on the two-node test bed (testbed/swarm.sh, as in
// swarm.test.ts), with Redis behind a password:
//  - a deploy whose migration changes the schema and whose smoke test then
//    fails puts the database back from its pre-deploy backup (after a safety
//    backup) and the previous release back on the swarm;
//  - SIGTERM while the stack deploys undoes like a failure (exit 143, the
//    previous release converged again, the lock let go);
//  - backup and rollback authenticate to a Redis that requires a password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { demoCopy, lifeops, type StackDoc } from '../helpers.js';
import { dk, swarmBed, swarmTools } from './swarm-kit.js';

const PORT = 19581;
const NAME = 'swundo';
const PROJECT = `${NAME}-swarm`;
const REDIS_PASSWORD = 'undoRedisPw4711';
let bed: Record<string, string> = {};
let stack: { file: string; stateDir: string; dir: string };
let goodStackFile = '';
const { taskContainer, sql, removeStack } = swarmTools(() => bed, PROJECT);

const cli = (args: string[], env: Record<string, string> = {}) => lifeops(['-f', stack.file, ...args], { env: { LIFEOPS_STATE_DIR: stack.stateDir, ...env }, timeoutMs: 580_000 });
/** redis-cli in the cache task: with the task's own REDISCLI_AUTH, or with it emptied (no password) */
const redis = async (auth: boolean, ...a: string[]) => {
  const c = await taskContainer('cache');
  const r = await dk(c.host, 'exec', ...(auth ? [] : ['-e', 'REDISCLI_AUTH=']), c.id, 'redis-cli', ...a);
  return (r.stdout + r.stderr).trim();
};
const itemsDigest = () => sql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items");
async function version(): Promise<string> {
  const r = await fetch(`http://${bed.SWARM_NODE1_ADDR}:${PORT}/`, { signal: AbortSignal.timeout(5000) });
  return ((await r.json()) as { version: string }).version;
}
const webImage = async () => (await dk(bed.SWARM_MANAGER_HOST, 'service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', `${PROJECT}_web`)).stdout.trim().split('@')[0];
const history = async () => (JSON.parse((await cli(['history', '--env', 'swarm', '--json'])).stdout) as { kind: string; version: string; outcome: string }[]).map((x) => `${x.kind}:${x.version}:${x.outcome}`);

beforeAll(async () => {
  bed = await swarmBed();
  stack = demoCopy(NAME, PORT, (doc: StackDoc) => {
    doc.environments.swarm.swarm.monitor = '5s';
    doc.environments.swarm.swarm.converge_timeout = '7m';
    doc.redis.password = '${REDIS_PASSWORD}';
    doc.services.web.environment.REDIS_URL = 'redis://:${REDIS_PASSWORD}@cache:6379/0';
    doc.services.worker.environment.REDIS_URL = 'redis://:${REDIS_PASSWORD}@cache:6379/0';
  });
  appendFileSync(path.join(stack.dir, 'demo.local.env'), `\nREDIS_PASSWORD=${REDIS_PASSWORD}\n`);
  goodStackFile = readFileSync(stack.file, 'utf8');
  await removeStack();
}, 600_000);

afterAll(async () => {
  await removeStack();
}, 300_000);

describe('undo on a two-node swarm, Redis with a password', () => {
  let backupId = '';
  let itemsAtStart = '';

  it('deploys sw1; Redis refuses a client without the password; a backup holds both datastores', async () => {
    const r = await cli(['deploy', 'swarm', '--version', 'sw1', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await version()).toBe('sw1');
    await sql('CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 500) g');
    itemsAtStart = await itemsDigest();
    expect(await redis(true, 'SET', 'k1', 'one')).toBe('OK');
    expect(await redis(false, 'GET', 'k1')).toMatch(/NOAUTH/);
    const b = await cli(['backup', '--env', 'swarm', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout);
    expect(Object.keys(m.files).sort()).toEqual(['postgres.dump', 'redis.rdb']);
    expect(m.files['redis.rdb'].size).toBeGreaterThan(0);
    backupId = m.id;
  }, 600_000);

  it('a deploy whose migration changed the schema and whose smoke test failed: database restored, sw1 back', async () => {
    const doc = parse(goodStackFile) as StackDoc;
    // the new release's migration adds a column and deletes rows; its health path answers 404 through the front
    doc.migrations.command = ['sh', '-c', `python3 migrate.py && python3 -c "import os, psycopg2; c = psycopg2.connect(os.environ['DATABASE_URL']); c.autocommit = True; k = c.cursor(); k.execute('ALTER TABLE items ADD COLUMN added_in_sw2 int'); k.execute('DELETE FROM items WHERE id > 250')"`];
    doc.services.web.http.health = '/no-such-health';
    writeFileSync(stack.file, stringify(doc));
    const r = await cli(['deploy', 'swarm', '--version', 'sw2']);
    writeFileSync(stack.file, goodStackFile);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/migrations: the database changed/);
    expect(r.stderr).toMatch(/smoke test failed/);
    expect(r.stderr).toMatch(/the database was restored from the pre-deploy backup/);
    expect(await sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'added_in_sw2'")).toBe('0');
    expect(await itemsDigest()).toBe(itemsAtStart);
    expect(await version()).toBe('sw1');
    expect(await webImage()).toBe('lifeops/demo-app:sw1');
    expect(await history()).toEqual(['deploy:sw1:success', 'deploy:sw2:rolled-back']);
    // the safety backup taken before the restore holds the data the failed release left
    const list = JSON.parse((await cli(['backups', 'list', '--env', 'swarm', '--json'])).stdout) as { tag?: string }[];
    expect(list.some((b) => /^before undo /.test(b.tag ?? ''))).toBe(true);
  }, 600_000);

  it('SIGTERM while the stack deploys: exit 143, sw1 converged again, the lock let go', async () => {
    // the step number of `docker stack deploy` in the last deploy's step log (the same steps come first now)
    const logs = readdirSync(path.join(stack.stateDir, 'logs')).map((f) => path.join(stack.stateDir, 'logs', f));
    const failed = logs.find((f) => readFileSync(f, 'utf8').includes('undo: the whole stack back'))!;
    const starts = readFileSync(failed, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event?: string; step?: string }).filter((e) => e.event === 'start');
    const n = starts.findIndex((e) => e.step?.startsWith(`docker stack deploy ${PROJECT}`)) + 1;
    expect(n).toBeGreaterThan(1);
    const r = await cli(['deploy', 'swarm', '--version', 'sw2'], { LIFEOPS_TEST_SIGNAL_AT_STEP: `${n}:SIGTERM` });
    expect(r.exitCode, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/SIGTERM received/);
    expect(r.stderr).toMatch(/undo: the whole stack back to release/);
    expect(await webImage()).toBe('lifeops/demo-app:sw1');
    expect(await version()).toBe('sw1');
    expect(existsSync(path.join(stack.stateDir, 'locks', 'swarm.lock'))).toBe(false);
    expect((await history()).pop()).toBe('deploy:sw2:rolled-back');
    expect(await itemsDigest()).toBe(itemsAtStart);
  }, 600_000);

  it('rolls back to the backup with the Redis password: the key comes back', async () => {
    expect(await redis(true, 'SET', 'k1', 'two')).toBe('OK');
    const r = await cli(['rollback', backupId, '--env', 'swarm', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await redis(true, 'GET', 'k1')).toBe('one');
    expect(await redis(false, 'GET', 'k1')).toMatch(/NOAUTH/);
    expect(r.stdout + r.stderr).not.toContain(REDIS_PASSWORD);
  }, 600_000);
});
