// Backups on real containers: the demo stack deployed under its own project
// (bkt), rows and keys -> backup -> change -> rollback -> equal; damaged
// backups refused before live data is touched; the lock refuses a second run.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, readFileSync, writeFileSync, rmSync, appendFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { lifeops, demoCopy, at, demoProject, runLogValues } from '../helpers.js';
import { PassThrough } from 'node:stream';
import { Lock } from '../../src/state/lock.js';
import { loadStack } from '../../src/config/load.js';
import { Run, type IO } from '../../src/flows/context.js';
import { Redactor } from '../../src/util/redact.js';
import { restoreBackup } from '../../src/flows/restore.js';

// BKT_KEEP_LAST: the retention test tightens the policy for single runs
const stack = demoCopy('bkt', 18447, (d) => {
  at(d, 'backup').keep_last = '${BKT_KEEP_LAST:-5}';
});
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[], env?: Record<string, string>) => lifeops([...base, ...args], { env });
const listIds = async () => (JSON.parse((await cli(['backups', 'list', '--json'])).stdout) as { id: string }[]).map((b) => b.id);
const { sql, redis, tableHash, seed } = demoProject('bkt-local');
const backups = path.join(stack.stateDir, 'backups');

let id = '';

beforeAll(async () => {
  await seed(cli);
  await redis('SET', 'k2', 'two');
}, 300_000);

afterAll(async () => {
  await cli(['down', '--volumes', '--yes', '--skip-backup']);
}, 120_000);

describe('backups on the demo stack', () => {
  it('a backup is refused while the environment is locked, naming the holder', async () => {
    const lock = Lock.acquire(stack.stateDir, 'local', 'test holder', new Date());
    try {
      const r = await cli(['backup']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/locked by another run: pid \d+ .*test holder/);
    } finally {
      lock.release();
    }
    const list = await cli(['backups', 'list', '--json']);
    expect(JSON.parse(list.stdout || '[]')).toEqual([]);
  });

  it('takes a backup, lists and verifies it', async () => {
    rmSync(path.join(backups, '.tmp-leftover'), { recursive: true, force: true });
    const r = await cli(['backup', '--tag', 'first', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    id = JSON.parse(r.stdout).id;
    const list = JSON.parse((await cli(['backups', 'list', '--json'])).stdout);
    expect(list).toEqual([expect.objectContaining({ id, env: 'local', tag: 'first', size: expect.any(Number), time: expect.any(String) })]);
    const m = JSON.parse(readFileSync(path.join(backups, id, 'manifest.json'), 'utf8'));
    expect(m.contents.postgres.databases[0].rows['public.items']).toBe(2000);
    // the db publishes 5432 on 127.0.0.1: the snapshot and the row counts go through pg
    expect(runLogValues(stack.stateDir, 'snapshot_and_row_counts').at(-1)).toMatch(/^pg on 127\.0\.0\.1:\d+$/);
    const v = await cli(['backups', 'verify', id]);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/files match their checksums; demo restored with \d+ rows in \d+ tables/);
  });

  it('refuses damaged, incomplete and unknown backups before touching anything', async () => {
    const before = await tableHash();
    const damage: [string, (dir: string) => void, RegExp][] = [
      ['flip', (d) => { const f = path.join(d, 'postgres', 'demo.dump'); const b = readFileSync(f); b[b.length >> 1] ^= 0xff; writeFileSync(f, b); }, /postgres\/demo\.dump: sha256 mismatch/],
      ['trunc', (d) => truncateSync(path.join(d, 'postgres', 'demo.dump'), 100), /postgres\/demo\.dump: size 100 bytes/],
      ['append', (d) => appendFileSync(path.join(d, 'redis', 'dump.rdb.tar'), 'x'), /redis\/dump\.rdb\.tar: size \d+ bytes, manifest says/],
      ['nomanifest', (d) => rmSync(path.join(d, 'manifest.json')), /has no manifest\.json/],
    ];
    for (const [name, hurt, msg] of damage) {
      const copy = `${id}-${name}`;
      const dir = path.join(backups, copy);
      cpSync(path.join(backups, id), dir, { recursive: true });
      const mf = path.join(dir, 'manifest.json');
      writeFileSync(mf, readFileSync(mf, 'utf8').replace(`"id": "${id}"`, `"id": "${copy}"`));
      hurt(dir);
      const r = await cli(['rollback', copy, '--yes']);
      expect(r.exitCode, name).toBe(1);
      expect(r.stderr, name).toMatch(msg);
      expect(r.stderr).toContain(copy);
      const v = await cli(['backups', 'verify', copy]);
      expect(v.exitCode, name).toBe(1);
      rmSync(dir, { recursive: true, force: true });
    }
    const u = await cli(['rollback', 'no-such-backup', '--yes']);
    expect(u.exitCode).toBe(1);
    expect(u.stderr).toMatch(/unknown backup no-such-backup/);
    expect(await tableHash()).toBe(before);
    expect(JSON.parse((await cli(['backups', 'list', '--json'])).stdout).map((b: { id: string }) => b.id)).toEqual([id]);
  });

  it('round trip: change and delete, then rollback brings back exactly the backup point', async () => {
    const hash = await tableHash();
    await sql("DELETE FROM items WHERE id <= 700; UPDATE items SET v = 'changed' WHERE id = 1500; INSERT INTO items VALUES (99999, 'written after the backup')");
    await redis('DEL', 'k1');
    await redis('SET', 'k3', 'after');
    expect(await tableHash()).not.toBe(hash);
    const r = await cli(['rollback', id, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/state before is in backup/);
    // the writers stop before the safety backup, and the unchanged release is only started again
    const stopAt = r.stderr.indexOf('stop app services (web, worker, front): no write may land after the safety backup');
    expect(stopAt, r.stderr).toBeGreaterThanOrEqual(0);
    expect(stopAt).toBeLessThan(r.stderr.indexOf('postgres: pg_dump -Fc'));
    expect(r.stderr).toMatch(/compose start \(v[12], project bkt-local\): the release is unchanged/);
    expect(r.stderr).not.toMatch(/could not log in over 127\.0\.0\.1/);
    expect(runLogValues(stack.stateDir, 'restore_client').at(-1)).toBe('beside db'); // pg_restore and psql ran outside the db's CPU limit
    expect(await tableHash()).toBe(hash);
    expect(await sql('SELECT count(*) FROM items WHERE id = 99999')).toBe('0');
    expect(await redis('GET', 'k1')).toBe('one');
    expect(await redis('GET', 'k2')).toBe('two');
    expect(await redis('EXISTS', 'k3')).toBe('0');
    // the safety backup is on the downtime path: dumped at -Z1, and it verifies like any other
    expect(r.stderr).toMatch(/postgres: pg_dump -Fc -Z1 \S+ \(with row counts\)/);
    const list = JSON.parse((await cli(['backups', 'list', '--json'])).stdout);
    const safety = list.find((b: { tag?: string }) => b.tag === 'pre-rollback');
    expect(safety).toBeTruthy();
    const v = await cli(['backups', 'verify', safety.id]);
    expect(v.exitCode, v.stderr).toBe(0);
    const h = JSON.parse((await cli(['history', '--json'])).stdout);
    expect(h.at(-1)).toEqual(expect.objectContaining({ kind: 'rollback', outcome: 'success', backup: id }));
  });

  it('when no client beside the database can log in, the restore runs inside its container and ends equal all the same', async () => {
    const hash = await tableHash();
    await sql("DELETE FROM items WHERE id <= 300; CREATE TABLE made_after (x int)");
    const loaded = loadStack({ file: stack.file, env: 'local', processEnv: process.env });
    const wrong = { ...loaded, postgres: { ...loaded.postgres!, password: 'not-the-password' } };
    const stderr = new PassThrough();
    let said = '';
    stderr.on('data', (d: Buffer) => (said += d.toString()));
    const io: IO = { stdout: new PassThrough(), stderr, env: {}, now: () => new Date(), verbose: false, json: false };
    await restoreBackup(wrong, new Run(io, stack.stateDir, new Redactor([]), 'test'), { stateDir: stack.stateDir, id, parts: ['postgres'] });
    expect(said).toMatch(/a client beside db could not log in over 127\.0\.0\.1 \(nothing was changed\): restoring with docker exec in the container/);
    expect(await tableHash()).toBe(hash);
    expect(await sql("SELECT count(*) FROM pg_tables WHERE tablename = 'made_after'")).toBe('0');
    expect(runLogValues(stack.stateDir, 'restore_client').at(-1)).toBe('inside db');
  });

  it('retention keeps exactly what the policy says, and runs only after a backup succeeded', async () => {
    for (const tag of ['third', 'fourth']) {
      const b = await cli(['backup', '--tag', tag]);
      expect(b.exitCode).toBe(0);
      expect(b.stderr).toMatch(/postgres: pg_dump -Fc \S+ \(with row counts\)/); // pg_dump's own level unless backup.compression says
    }
    const before = await listIds();
    expect(before.length).toBe(4); // the first (verified), the pre-rollback safety backup (verified since), third, fourth
    expect(before[0]).toBe(id);

    // a failing backup under a policy of 1 deletes nothing
    const db = (await execa('docker', ['ps', '-q', '--filter', 'label=com.docker.compose.project=bkt-local', '--filter', 'label=com.docker.compose.service=db'])).stdout.trim();
    await execa('docker', ['stop', db]);
    try {
      const failed = await cli(['backup'], { BKT_KEEP_LAST: '1' });
      expect(failed.exitCode, failed.stderr).toBe(1);
      expect(failed.stderr).toMatch(/service db of bkt-local has no running container/);
      expect(await listIds()).toEqual(before);
    } finally {
      await execa('docker', ['start', db]);
    }
    for (let i = 0; i < 150 && (await sql('SELECT 1').catch(() => '')) !== '1'; i++) await new Promise((r) => setTimeout(r, 200));

    // a successful one under keep_last 2: the two newest stay, and the newest verified one
    // (the safety backup); the older verified one is not protected any more
    const ok = await cli(['backup', '--json'], { BKT_KEEP_LAST: '2' });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const { id: newest, deleted } = JSON.parse(ok.stdout) as { id: string; deleted: string[] };
    expect(deleted).toEqual([id, before[2]]);
    expect(await listIds()).toEqual([before[1], before[3], newest]);
  });
});
