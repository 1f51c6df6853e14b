// Backup fault cases on real containers (issue 4, "nothing is ever lost"),
// on a demo copy (project bkf-local) whose web service mounts a named volume
// listed under backup.volumes:
//   - files in the volume, rows and keys come back exactly through rollback;
//   - a full disk (a 2 MiB tmpfs as backup.dir): exit 1, one clean error,
//     nothing partial left, the older backup there still verifies;
//   - kill -9 mid-backup: nothing listed, earlier backup verifies, the stale
//     lock is shown by `lock status`; the next backup takes it over, marks the
//     dead run crashed, works and removes the dead run's folder (not another
//     project's);
//   - an external database (a plain Postgres container) is dumped with the
//     host's pg_dump, verified in a throwaway container and restored by
//     rollback, its password never on argv, in output or in the state dir;
//   - without containers: the per-file volume list read from tar archives,
//     and the split of external_url that keeps the password off argv.
// The failed and the killed backup must not crash-restart the database either.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { lifeops, demoCopy, at, demoProject, runLogValues, BIN, ROOT } from '../helpers.js';
import { TarLister, parseSumList } from '../../src/backup/volumes.js';
import { externalTarget, externalEnv } from '../../src/backup/external.js';

const stack = demoCopy('bkf', 18520, (d) => {
  // room for the ~60 MB table the slow-dump cases need
  at(d, 'services.db.resources.limits').memory = '768M';
  // no published db port: snapshot and row counts go through psql in the container (the fallback)
  delete at(d, 'services.db').ports;
  at(d, 'services.web').volumes = ['media:/srv/media'];
  at(d, 'backup').volumes = ['media'];
  // BKF_BACKUP_DIR moves the backups onto the small tmpfs for the disk-full case only
  at(d, 'backup').dir = '${BKF_BACKUP_DIR:-state/backups}';
});
const PROJECT = 'bkf-local';
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[], env?: Record<string, string>) => lifeops([...base, ...args], { env, timeoutMs: 600_000 });
const backups = path.join(stack.stateDir, 'backups');

const { container: inService, sql, redis, tableHash, seed } = demoProject(PROJECT);
const container = (project: string, svc: string) => inService(svc, project);
const inWeb = async (script: string) => (await execa('docker', ['exec', '-u', 'root', await container(PROJECT, 'web'), 'sh', '-c', script])).stdout;
/** Wait until the db answers (after a crash-restart caused elsewhere, recovery can take a while on a busy host). */
async function dbReady(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const c = await container(PROJECT, 'db');
    if (c && (await execa('docker', ['exec', c, 'psql', '-X', '-At', '-U', 'demo', '-d', 'demo', '-c', 'SELECT 1'], { reject: false })).exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the db of bkf-local does not answer');
}
/** Crash-restarts of the db so far (an orphaned client reaped by postgres as PID 1 causes one: every connection lost). */
const dbCrashes = async () => ((await execa('docker', ['logs', await container(PROJECT, 'db')], { all: true })).all ?? '').split('\n').filter((l) => /terminating any other active server processes/.test(l)).length;
const ids = async (env?: Record<string, string>) => {
  const r = await cli(['backups', 'list', '--json'], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout || '[]') as { id: string }[]).map((b) => b.id);
};
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const tmpFolders = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.tmp-')) : []);

/** path -> sha256 of every regular file in the media volume, as the web container sees it. */
async function mediaHashes(): Promise<Record<string, string>> {
  const out = await inWeb('cd /srv/media && find . -type f -print0 | sort -z | xargs -0 -r sha256sum');
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(66), l.slice(0, 64)]));
}

/** ~60 MB of incompressible-ish rows (md5 text), inserted in batches: slow to dump, far too big for 2 MiB. */
const BULK_ROWS = 350_000;
async function ensureBulk(): Promise<void> {
  await sql('CREATE TABLE IF NOT EXISTS bulk(id int PRIMARY KEY, payload text)');
  const have = Number(await sql('SELECT count(*) FROM bulk'));
  for (let from = have + 1; from <= BULK_ROWS; from += 50_000) {
    const to = Math.min(BULK_ROWS, from + 49_999);
    await sql(`INSERT INTO bulk SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(${from}, ${to}) g`);
  }
}

const LONG_DIR = 'd'.repeat(110); // past tar's 100-byte name field: GNU long-name entries
let firstBackup = ''; // a small backup in the state dir, taken by the round trip

let tmpfsDir = '';
let tmpfsMounted = false;

describe('backup fault cases on the demo stack', () => {
  beforeAll(async () => {
    await seed(cli);
  }, 600_000);

  afterAll(async () => {
    if (tmpfsMounted) await execa('umount', [tmpfsDir], { reject: false });
    if (tmpfsDir) rmSync(tmpfsDir, { recursive: true, force: true });
    await cli(['down', '--volumes', '--yes', '--skip-backup']);
  }, 300_000);

  it('round trip: files in a named volume, rows and a key come back exactly through rollback', async () => {
    await dbReady();
    await inWeb(
      [
        'set -e',
        'cd /srv/media',
        'mkdir -p nested/deep empty ' + LONG_DIR,
        'printf "first version\\n" > a.txt',
        'printf "deep file\\n" > nested/deep/b.txt',
        'head -c 300000 /dev/urandom > bin.dat',
        `printf "long name\\n" > ${LONG_DIR}/${'f'.repeat(40)}.txt`,
        'printf "spaced\\n" > "with space.txt"',
      ].join('\n'),
    );
    const atBackup = await mediaHashes();
    expect(Object.keys(atBackup).sort()).toEqual(['./a.txt', './bin.dat', './nested/deep/b.txt', `./${LONG_DIR}/${'f'.repeat(40)}.txt`, './with space.txt'].sort());
    const rowsAtBackup = await tableHash();

    const b = await cli(['backup', '--tag', 'files', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    firstBackup = JSON.parse(b.stdout).id;
    expect(runLogValues(stack.stateDir, 'snapshot_and_row_counts').at(-1)).toBe('docker exec psql');
    const m = JSON.parse(readFileSync(path.join(backups, firstBackup, 'manifest.json'), 'utf8'));
    expect(m.contents.volumes).toEqual([expect.objectContaining({ name: 'media', volume: 'bkf-local_media', file: 'volumes/media.tar', list: 'volumes/media.sha256' })]);
    // the per-file list read from the archive is exactly what the container sees
    const listed = readFileSync(path.join(backups, firstBackup, 'volumes', 'media.sha256'), 'utf8');
    expect(Object.fromEntries(listed.trim().split('\n').map((l) => [l.slice(66), l.slice(0, 64)]))).toEqual(atBackup);

    await inWeb(
      [
        'set -e',
        'cd /srv/media',
        'printf "second version\\n" > a.txt',
        'rm nested/deep/b.txt',
        'head -c 1000 /dev/urandom > bin.dat',
        'printf "written after the backup\\n" > new.txt',
        'mkdir -p later && printf x > later/x.txt',
      ].join('\n'),
    );
    await sql("DELETE FROM items WHERE id <= 500; INSERT INTO items VALUES (99999, 'after')");
    await redis('SET', 'k1', 'changed');
    await redis('SET', 'k2', 'after');
    expect(await mediaHashes()).not.toEqual(atBackup);

    const r = await cli(['rollback', firstBackup, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/volume media: replace its files and check each one/);
    const after = await mediaHashes();
    expect(after).toEqual(atBackup); // every file's sha256, and nothing more
    expect(after['./new.txt']).toBeUndefined();
    expect(await inWeb('test -d /srv/media/empty && test ! -e /srv/media/later && echo ok')).toBe('ok');
    expect(await tableHash()).toBe(rowsAtBackup);
    expect(await redis('GET', 'k1')).toBe('one');
    expect(await redis('EXISTS', 'k2')).toBe('0');
  }, 900_000);

  it('disk full: exit 1 with one clean error, nothing partial left, the older backup there still verifies', async () => {
    expect(process.getuid?.()).toBe(0); // mounting a tmpfs needs root; the test bed runs as root
    tmpfsDir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-bkf-full-'));
    const m = await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', tmpfsDir], { reject: false });
    expect(m.exitCode, `mount -t tmpfs failed: ${m.stderr}`).toBe(0);
    tmpfsMounted = true;
    const env = { BKF_BACKUP_DIR: tmpfsDir };
    await dbReady();
    const crashes = await dbCrashes();

    // a small backup fits (the bulk table is not there yet)
    await sql('DROP TABLE IF EXISTS bulk');
    const small = await cli(['backup', '--tag', 'small', '--json'], env);
    expect(small.exitCode, small.stderr).toBe(0);
    const smallId = JSON.parse(small.stdout).id as string;
    expect(existsSync(path.join(tmpfsDir, smallId, 'manifest.json'))).toBe(true);
    const usedBefore = (() => {
      const s = statfsSync(tmpfsDir);
      return (s.blocks - s.bfree) * s.bsize;
    })();

    await ensureBulk();
    const full = await cli(['backup', '--tag', 'too-big'], env);
    expect(full.exitCode, full.stderr).toBe(1);
    const errorAt = full.stderr.indexOf('lifeops: error:');
    expect(errorAt, full.stderr).toBeGreaterThanOrEqual(0);
    const paragraph = full.stderr.slice(errorAt).trimEnd().split('\n');
    // one line naming the problem and the file, then at most the fix line
    expect(paragraph[0]).toMatch(new RegExp(`no space left on device writing ${escapeRe(tmpfsDir)}/\\.tmp-[^ ]+\\.${PROJECT}/postgres/demo\\.dump`));
    expect(paragraph[0]).toMatch(/incomplete backup was removed and earlier backups are untouched/);
    expect(paragraph.length).toBeLessThanOrEqual(2);
    if (paragraph[1]) expect(paragraph[1]).toMatch(/^\s+fix: /);
    expect(full.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // no stack trace
    expect(full.stderr).not.toMatch(/unexpected error|--verbose/);

    // nothing partial: no .tmp-* folder and the space is given back
    expect(tmpFolders(tmpfsDir)).toEqual([]);
    const s = statfsSync(tmpfsDir);
    expect((s.blocks - s.bfree) * s.bsize).toBeLessThanOrEqual(usedBefore + 64 * 1024);
    expect(await ids(env)).toEqual([smallId]);
    const v = await cli(['backups', 'verify', smallId], env);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/files match their checksums; demo restored with \d+ rows/);
    expect(await dbCrashes(), 'the failed backup crash-restarted the database').toBe(crashes);

    // a data rollback whose safety backup cannot be written: the apps it stopped
    // are started again, and no data is touched
    const rowsBefore = await tableHash();
    const bulkBefore = await sql('SELECT count(*) FROM bulk');
    const webBefore = await container(PROJECT, 'web');
    const rb = await cli(['rollback', smallId, '--yes'], env);
    expect(rb.exitCode, rb.stderr).toBe(1);
    expect(rb.stderr).toMatch(/stop app services \(web, worker, front\): no write may land after the safety backup/);
    expect(rb.stderr).toMatch(/no space left on device writing/);
    expect(rb.stderr).toMatch(/undo: start web, worker, front again \(the safety backup failed; no data was touched\)/);
    expect(rb.stderr).not.toMatch(/postgres: restore/);
    expect(await tableHash()).toBe(rowsBefore);
    expect(await sql('SELECT count(*) FROM bulk')).toBe(bulkBefore);
    const running = (await execa('docker', ['ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Label "com.docker.compose.service"}}'])).stdout.split('\n').sort();
    expect(running).toEqual(expect.arrayContaining(['cache', 'db', 'front', 'web', 'worker']));
    expect(await container(PROJECT, 'web')).toBe(webBefore); // started again, not recreated
    expect(tmpFolders(tmpfsDir)).toEqual([]);
  }, 900_000);

  it('a volume that keeps changing while tar reads it: archived again, then one clean error and nothing partial', async () => {
    const before = await ids();
    // a writer appending to a file in the media volume every 10 ms
    await inWeb('echo "while :; do head -c 65536 /dev/urandom >> /srv/media/grow.bin; sleep 0.01; done" > /tmp/writer.sh');
    await execa('docker', ['exec', '-d', '-u', 'root', await container(PROJECT, 'web'), 'sh', '-c', 'echo $$ > /tmp/writer.pid; exec sh /tmp/writer.sh']);
    try {
      const busy = await cli(['backup', '--tag', 'busy']);
      expect(busy.exitCode, busy.stderr).toBe(1);
      expect(busy.stderr).toMatch(/volume media: a file changed while it was read; archiving it again \(try 2 of 3\)/);
      expect(busy.stderr).toMatch(/volume bkf-local_media kept changing while it was archived \(3 tries\); the incomplete backup was removed: .*grow\.bin/);
      expect(busy.stderr).toMatch(/fix: stop what writes to it during the backup/);
      expect(busy.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    } finally {
      await inWeb('kill "$(cat /tmp/writer.pid)"; rm -f /srv/media/grow.bin /tmp/writer.pid /tmp/writer.sh');
    }
    expect(await ids()).toEqual(before);
    expect(tmpFolders(backups).filter((n) => n.endsWith(`.${PROJECT}`))).toEqual([]);
    // quiet again: the next backup goes through
    const ok = await cli(['backup', '--tag', 'quiet']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/archiving it again/);
  }, 900_000);

  it('kill -9 mid-backup: nothing listed, the next backup takes the stale lock over, works and cleans up', async () => {
    await dbReady();
    await ensureBulk();
    const crashes = await dbCrashes();
    const before = await ids();
    expect(before).toContain(firstBackup);

    // a folder of another project sharing the backup dir: a live run's, never ours to delete
    const foreign = path.join(backups, '.tmp-20990101T000000Z-abcdef.other-local');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(path.join(foreign, 'part'), 'another project writes here');

    const child = spawn('node', [BIN, ...base, 'backup'], { cwd: ROOT, detached: true, stdio: 'ignore', env: { ...process.env, CI: '1' } });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // wait until the dump is being written into the run's .tmp-* folder
    let partial = '';
    for (const t0 = Date.now(); !partial && Date.now() - t0 < 300_000; ) {
      for (const n of tmpFolders(backups).filter((x) => x.endsWith(`.${PROJECT}`))) {
        const f = path.join(backups, n, 'postgres', 'demo.dump');
        if (existsSync(f) && statSync(f).size > 0) partial = n;
      }
      if (!partial) await new Promise((r) => setTimeout(r, 20));
    }
    expect(partial, 'the backup never started writing its dump').not.toBe('');
    process.kill(-child.pid!, 'SIGKILL'); // the whole process group: node and its docker clients
    await exited; // reaped: the pid is really gone

    // killed mid-way: its folder is still there, unlisted, without a manifest
    expect(existsSync(path.join(backups, partial, 'manifest.json'))).toBe(false);
    expect(await ids()).toEqual(before);
    const v = await cli(['backups', 'verify', firstBackup]);
    expect(v.exitCode, v.stderr).toBe(0);

    // the dead run's pg_dump does not linger in the database (it would hold locks)
    let lingering = '1';
    for (let i = 0; i < 120 && lingering !== '0'; i++) {
      lingering = await sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND pid <> pg_backend_pid()");
      if (lingering !== '0') await new Promise((r) => setTimeout(r, 500));
    }
    expect(lingering).toBe('0');

    // the stale lock: shown as such, then taken over by the next backup (as cron would run it)
    const lockFile = path.join(stack.stateDir, 'locks', 'local.lock');
    const held = JSON.parse(readFileSync(lockFile, 'utf8')) as { id: string; pid: number; run: string };
    expect(held.pid).toBe(child.pid);
    expect(tmpFolders(backups)).toContain(partial);
    const status = await lifeops([...base, 'lock', 'status']);
    expect(status.stdout).toMatch(new RegExp(`STALE \\(process gone\\): lifeops lock release ${held.id}$`, 'm'));

    const next = await cli(['backup', '--json']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(`took over the stale lock of run ${held.run} (pid ${child.pid} `);
    expect(next.stderr).toMatch(/recovery: remove 1 incomplete backup folder/);
    const crashed = (JSON.parse((await lifeops([...base, 'history', '--json'])).stdout) as { run_id: string; outcome: string }[]).filter((r) => r.outcome === 'crashed');
    expect(crashed).toEqual([expect.objectContaining({ run_id: held.run, kind: 'backup' })]);
    const nextId = JSON.parse(next.stdout).id as string;
    expect(await ids()).toEqual([...before, nextId]);
    // the dead run's folder is gone; the other project's is left alone
    expect(tmpFolders(backups)).toEqual([path.basename(foreign)]);
    rmSync(foreign, { recursive: true, force: true });
    const m = JSON.parse(readFileSync(path.join(backups, nextId, 'manifest.json'), 'utf8'));
    expect(m.contents.postgres.databases[0].rows['public.bulk']).toBe(BULK_ROWS);
    expect(await dbCrashes(), 'the killed backup crash-restarted the database').toBe(crashes);
  }, 900_000);
});

// ------------------------------------------------------------ pure parts

describe('volume lists read from the archive, and external URLs', () => {
  it('TarLister lists exactly what sha256sum sees, for GNU and pax archives', async () => {
    const src = mkdtempSync(path.join(os.tmpdir(), 'lifeops-tarlist-'));
    try {
      const long = path.join(src, 'l'.repeat(120), 'n'.repeat(90));
      mkdirSync(long, { recursive: true });
      writeFileSync(path.join(long, 'deep.txt'), 'deep\n');
      writeFileSync(path.join(src, 'empty'), '');
      writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(700_000, 7));
      writeFileSync(path.join(src, 'back\\slash'), 'odd name\n');
      await execa('ln', [path.join(src, 'big.bin'), path.join(src, 'hard.bin')]);
      await execa('ln', ['-s', 'empty', path.join(src, 'sym')]);
      mkdirSync(path.join(src, 'emptydir'));
      const sums = (await execa('sh', ['-c', 'cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum', 'sh', src])).stdout + '\n';
      for (const format of ['gnu', 'pax']) {
        const tar = await execa('tar', [`--format=${format}`, '-C', src, '-cf', '-', '.'], { encoding: 'buffer' });
        const lister = new TarLister();
        const out: Buffer[] = [];
        lister.on('data', (d: Buffer) => out.push(d));
        await new Promise<void>((resolve, reject) => {
          lister.on('end', resolve).on('error', reject);
          lister.end(tar.stdout);
        });
        expect(Buffer.concat(out).equals(Buffer.from(tar.stdout)), format).toBe(true); // passed through unchanged
        expect(lister.list(), format).toBe(sums);
        expect([...parseSumList(lister.list()).keys()]).toContain(`./${'l'.repeat(120)}/${'n'.repeat(90)}/deep.txt`);
      }
      // a cut archive is an error, not a short list
      const tar = await execa('tar', ['-C', src, '-cf', '-', '.'], { encoding: 'buffer' });
      const cut = new TarLister();
      cut.resume();
      const err = await new Promise<Error | undefined>((resolve) => {
        cut.on('error', resolve).on('end', () => resolve(undefined));
        cut.end(Buffer.from(tar.stdout).subarray(0, 4096));
      });
      expect(err?.message).toMatch(/ended early/);
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });

  it('externalTarget keeps the password off the URL given to the client tools', () => {
    const t = externalTarget('postgresql://app%40ops:p%40ss%3Aword@db.example.com:6543/main?sslmode=require', 'other');
    expect(t.url).toBe('postgresql://app%40ops@db.example.com:6543/other?sslmode=require');
    expect(t.password).toBe('p@ss:word');
    expect(t.display).toBe('app@ops@db.example.com:6543/other');
    expect(externalEnv(t)).toEqual({ PGPASSWORD: 'p@ss:word', PGAPPNAME: 'lifeops' });
    const q = externalTarget('postgres://u@h/db?password=secret&application_name=x', 'db');
    expect(q.url).toBe('postgres://u@h/db?application_name=x');
    expect(q.password).toBe('secret');
    expect(() => externalTarget('not a url with secret', 'db')).toThrow(/not a URL/);
    expect(() => externalTarget('mysql://u:secret@h/db', 'db')).toThrow(/must be a postgresql:\/\/ URL, not mysql:\/\/…$/);
  });
});

// ------------------------------------------------------------ external database

describe('an external database (postgres.external_url)', () => {
  const PG = 'lifeops-bkv-extpg';
  const PASSWORD = 'Ext-Pw_9f3k@x'; // '@' must be percent-encoded in the URL
  const PASSWORD_IN_URL = 'Ext-Pw_9f3k%40x';
  const dir = mkdtempSync(path.join(ROOT, '.tmp-tests', 'bkv-'));
  const file = path.join(dir, 'stack.yaml');
  const state = path.join(dir, 'state');
  let env: Record<string, string> = {};
  const ext = (args: string[], extra: Record<string, string> = {}) => lifeops(['-f', file, '--state-dir', state, ...args], { env: { ...env, ...extra }, timeoutMs: 600_000 });
  const psql = async (q: string) => (await execa('docker', ['exec', PG, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'ext', '-d', 'extdb', '-c', q])).stdout.trim();
  const cache = async (...a: string[]) => (await execa('docker', ['exec', await container('bkv-local', 'cache'), 'redis-cli', ...a])).stdout.trim();
  const hash = () => psql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM ext_items");

  beforeAll(async () => {
    await execa('docker', ['rm', '-f', PG], { reject: false });
    await execa('docker', ['run', '-d', '--init', '--name', PG, '-p', '127.0.0.1::5432', '-e', 'POSTGRES_USER=ext', '-e', 'POSTGRES_PASSWORD', '-e', 'POSTGRES_DB=extdb', 'lifeops/postgres:15'], { env: { POSTGRES_PASSWORD: PASSWORD } });
    const port = (await execa('docker', ['port', PG, '5432/tcp'])).stdout.trim().split('\n')[0].split(':').pop()!;
    for (let i = 0; ; i++) {
      // TCP answers only after the entrypoint's socket-only init server is gone
      if ((await execa('docker', ['exec', PG, 'pg_isready', '-q', '-h', '127.0.0.1'], { reject: false })).exitCode === 0) break;
      if (i > 600) throw new Error(`${PG} did not become ready`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await psql('CREATE TABLE ext_items(id int PRIMARY KEY, v text); INSERT INTO ext_items SELECT g, md5(g::text) FROM generate_series(1, 1500) g');
    env = { EXT_PG_PASSWORD: PASSWORD_IN_URL, EXT_PG_PORT: port };
    writeFileSync(
      file,
      [
        '# a stack whose database lives outside it',
        'name: bkv',
        'default_environment: local',
        'services:',
        '  cache:',
        '    role: redis',
        '    image: redis:7',
        '    ports: ["127.0.0.1:18521:6379"]',
        '    volumes: ["redisdata:/data"]',
        '    healthcheck: { test: "redis-cli ping | grep -q PONG", interval: 2s, timeout: 3s, retries: 30, start_period: 2s }',
        '    resources: { limits: { memory: 64M, cpus: 0.5 } }',
        'postgres: { service: db, user: ext, database: extdb, external_url: "postgresql://ext:${EXT_PG_PASSWORD}@127.0.0.1:${EXT_PG_PORT}/extdb" }',
        'redis: { service: cache, appendonly: true }', // the AOF folder is backed up and restored
        'backup: { keep_last: 5 }',
        'environments:',
        '  local:',
        '    images: { redis: lifeops/redis:7, postgres: lifeops/postgres:15 }',
        '',
      ].join('\n'),
    );
    await ext(['down', '--volumes', '--yes', '--skip-backup']);
    const d = await ext(['deploy', 'local']);
    expect(d.exitCode, d.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    await ext(['down', '--volumes', '--yes', '--skip-backup']);
    await execa('docker', ['rm', '-f', PG], { reject: false });
  }, 300_000);

  /** The password, raw or URL-encoded, appears in no output and no file of the state dir. */
  function expectNoPassword(...outputs: string[]) {
    for (const o of outputs) {
      expect(o).not.toContain(PASSWORD);
      expect(o).not.toContain(PASSWORD_IN_URL);
    }
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    for (const f of walk(state)) {
      const text = readFileSync(f).toString('latin1');
      expect(text.includes(PASSWORD) || text.includes(PASSWORD_IN_URL), f).toBe(false);
    }
  }

  it('is dumped with the host pg_dump, verified in a throwaway container, and rolled back', async () => {
    await cache('SET', 'kept', 'before');
    const b = await ext(['backup', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/postgres \(external ext@127\.0\.0\.1:\d+\/extdb\): pg_dump -Fc on this host/);
    const id = JSON.parse(b.stdout).id as string;
    const m = JSON.parse(readFileSync(path.join(state, 'backups', id, 'manifest.json'), 'utf8'));
    expect(m.contents.redis.files).toEqual(['redis/dump.rdb.tar', 'redis/appendonlydir.tar']);
    expect(m.contents.postgres).toEqual(
      expect.objectContaining({
        user: 'ext',
        databases: [{ name: 'extdb', file: 'postgres/extdb.dump', rows: { 'public.ext_items': 1500 } }],
        external: { server: expect.stringMatching(/^ext@127\.0\.0\.1:\d+$/), server_version: 15, pg_dump_version: expect.any(Number) },
      }),
    );

    const v = await ext(['backups', 'verify', id]);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/extdb restored with 1500 rows in 1 tables/);
    expect((await execa('docker', ['ps', '-aq', '--filter', 'label=lifeops.scratch=verify'])).stdout.trim()).toBe('');

    const atBackup = await hash();
    await psql("DELETE FROM ext_items WHERE id <= 400; UPDATE ext_items SET v = 'changed' WHERE id = 1000; INSERT INTO ext_items VALUES (99999, 'after')");
    expect(await hash()).not.toBe(atBackup);
    await cache('SET', 'kept', 'after');
    await cache('SET', 'added', 'after');
    const r = await ext(['rollback', id, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/postgres \(external ext@127\.0\.0\.1:\d+\/extdb\): restore in one transaction \(user schemas dropped first\)/);
    expect(await hash()).toBe(atBackup);
    expect(await cache('GET', 'kept')).toBe('before');
    expect(await cache('EXISTS', 'added')).toBe('0');
    expectNoPassword(b.stdout, b.stderr, v.stdout, v.stderr, r.stdout, r.stderr);
  }, 900_000);

  it('refuses, touching nothing, when the host pg_dump is older than the server', async () => {
    const before = (await ext(['backups', 'list', '--json'])).stdout;
    const fake = mkdtempSync(path.join(os.tmpdir(), 'lifeops-old-pgdump-'));
    try {
      const stub = path.join(fake, 'pg_dump');
      writeFileSync(stub, '#!/bin/sh\necho "pg_dump (PostgreSQL) 13.9"\n');
      chmodSync(stub, 0o755);
      const r = await ext(['backup'], { PATH: `${fake}:${process.env.PATH}` });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/the host's pg_dump is version 13 but ext@127\.0\.0\.1:\d+\/extdb runs PostgreSQL 15: pg_dump cannot dump a newer server/);
      expect(r.stderr).toMatch(/fix: install postgresql-client-15/);
      expectNoPassword(r.stdout, r.stderr);
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
    expect((await ext(['backups', 'list', '--json'])).stdout).toBe(before);
    expect(tmpFolders(path.join(state, 'backups'))).toEqual([]);
  }, 300_000);
});
