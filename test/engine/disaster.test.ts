// Disaster recovery (issue 22): the stack's host is gone; a new host has only
// the stack file, its env file and the off-site credentials.
//
// The source host is the main engine: a demo copy (project dr-local) is
// deployed there, with backups copied over sftp to the off-site host
// (testbed/offsite-host.sh: sshd in network namespace lofs1, key-only, its
// host key pinned); rows go into Postgres and keys into Redis, then a backup
// is copied off-site. The new host is the crash bed's private engine
// (testbed/engine-bed.sh: its own dockerd in network namespace lcr1, the
// demo's base images loaded, nothing of this project), with a NEW folder
// holding copies of the stack file, env file and secrets and an empty state
// dir. There `restore --from-offsite latest` is killed with SIGKILL as it
// restores Postgres; the same command again finishes the recovery, and the
// app serves the restored data (the Redis counter it increments continues
// from the restored value; /ready reaches Postgres; the table equals the
// source's). A second recovery onto the now populated engine is refused
// (exit 2) without --replace-data; with it, a safety backup of what the
// engine held is taken first and the copy replaces it.
//
// backup.pitr is on: rows written after the backup (one commit each) are
// archived and pushed off-site (`offsite push`) with the WAL; then the new
// host is lost too (its volumes and state dir gone), a time past the last
// pushed commit or before the base backup exits 2 naming the range, and
// `restore --from-offsite latest --to T` brings back exactly the rows
// committed up to T.
//
// The front publishes on ${FRONT_BIND}: 127.0.0.1 on the source host, 0.0.0.0
// in the new host's namespace (reached at 10.234.1.2 from here). db and cache
// publish no port (lifeops reaches them with docker exec), and lifeops' smoke
// test (which asks the host's 127.0.0.1) is off, as in crash-engine.test.ts.
// Not to be run at the same time as crash-engine.test.ts (the same bed).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { lifeops, demoCopy, at, demoProject, editStack, BIN, ROOT } from '../helpers.js';
import { runLogs } from './crash-kit.js';

const PORT = 18797;
const PROJECT = 'dr-local';
const PASSWORD = 'dr-offsite-pw-41b7e0c2a9';
const SLOW = 600_000;
const BED = path.join(ROOT, 'testbed', 'engine-bed.sh');
const HOST_SH = path.join(ROOT, 'testbed', 'offsite-host.sh');

const src = demoCopy('dr', PORT, (d) => {
  at(d, 'variables.defaults').FRONT_BIND = '127.0.0.1';
  at(d, 'services.front').ports = ['${FRONT_BIND}:${DEMO_HTTP_PORT}:80'];
  delete at(d, 'services.db').ports;
  delete at(d, 'services.cache').ports;
  at(d, 'deploy').smoke_test = false;
  at(d, 'backup').pitr = { enabled: true, archive_timeout: '10s' };
  // a machine shared by several test runs is slow: a slow answer is not a sick service
  for (const svc of Object.values(at(d, 'services') as Record<string, Record<string, unknown>>)) {
    svc.health_timeout = '600s';
    if (svc.healthcheck) Object.assign(svc.healthcheck as object, { interval: '3s', timeout: '30s', retries: 100 });
  }
});
const secrets = path.join(src.dir, 'secrets');
const key = path.join(secrets, 'offsite_ed25519');
// the new host: a sibling folder (the same depth, so the demo app's build context resolves), an empty state dir
const dst = { dir: `${src.dir}-newhost`, file: '', stateDir: '' };
dst.file = path.join(dst.dir, 'stack.yaml');
dst.stateDir = path.join(dst.dir, 'state');

let engineEnv: Record<string, string> = {};
let addr = '';
let repoDir = '';
const onSource = (args: string[]) => lifeops(['-f', src.file, '--state-dir', src.stateDir, ...args], { timeoutMs: SLOW });
const onNew = (args: string[]) => lifeops(['-f', dst.file, '--state-dir', dst.stateDir, ...args], { env: { ...engineEnv, FRONT_BIND: '0.0.0.0' }, timeoutMs: SLOW });
const source = demoProject(PROJECT);
const dk = (args: string[]) => execa('docker', args, { env: engineEnv, reject: false });
async function onNewContainer(svc: string): Promise<string> {
  return (await dk(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${svc}`])).stdout.trim().split('\n')[0];
}
async function newSql(q: string): Promise<string> {
  const r = await dk(['exec', await onNewContainer('db'), 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'demo', '-d', 'demo', '-c', q]);
  if (r.exitCode !== 0) throw new Error(`psql on the new host: ${r.stderr}`);
  return r.stdout.trim();
}
const HASH = "SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items";
const fetchJson = async (p: string) => {
  const r = await fetch(`http://${addr}:${PORT}${p}`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

let sourceHash = '';
let backupId = '';
/** --to: an instant between the commits of marks 20 and 21, and the commit times of the rows written after the backup */
let pitrTarget = '';
/** the end of what the off-site WAL reaches, as the refusal names it */
let reachEnd = '';
const afterBackup: { id: number; at: string }[] = [];
const MARKS = "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM marks";

beforeAll(async () => {
  // the off-site host and a key made for this test, its host key pinned
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lifeops-dr-test', '-f', key]);
  const facts = Object.fromEntries((await execa('bash', [HOST_SH, '--authorize', `${key}.pub`])).stdout.split('\n').map((l) => l.split('=')));
  copyFileSync(facts.KNOWN_HOSTS, path.join(secrets, 'known_hosts'));
  repoDir = `${facts.DATA}/${path.basename(src.dir)}`;
  writeFileSync(path.join(secrets, 'offsite.pw'), PASSWORD + '\n', { mode: 0o600 });
  chmodSync(path.join(secrets, 'offsite.pw'), 0o600);
  editStack(src.file, (d) => {
    at(d, 'backup').offsite = [{ name: 'box', repository: `sftp:root@${facts.ADDR}:${repoDir}`, password_file: 'secrets/offsite.pw', known_hosts: 'secrets/known_hosts', identity_file: 'secrets/offsite_ed25519' }];
  });
  // the new host's engine
  const bed = await execa(BED, [], { reject: false });
  if (bed.exitCode !== 0) throw new Error(`testbed/engine-bed.sh failed:\n${bed.stderr}`);
  const env = Object.fromEntries(bed.stdout.split('\n').map((l) => l.split('=', 2) as [string, string]));
  engineEnv = { DOCKER_HOST: env.DOCKER_HOST };
  addr = env.ADDR;
  // no data of this project on either engine (an earlier run's is not worth a backup)
  await onSource(['down', '--volumes', '--yes', '--skip-backup']);
  await lifeops(['-f', src.file, '--state-dir', path.join(src.dir, 'scratch-state'), 'down', '--volumes', '--yes', '--skip-backup'], { env: { ...engineEnv, LIFEOPS_TAKE_OVER: '1' }, timeoutMs: SLOW });
}, SLOW);

afterAll(async () => {
  await onSource(['down', '--volumes', '--yes', '--skip-backup']);
  if (engineEnv.DOCKER_HOST) await onNew(['down', '--volumes', '--yes', '--skip-backup']);
  if (repoDir) await execa('rm', ['-rf', repoDir], { reject: false });
}, SLOW);

describe('disaster recovery from the off-site copy onto a fresh engine', () => {
  it('the source host: deploy, data written, a backup copied off-site', async () => {
    const d = await onSource(['deploy', 'local']);
    expect(d.exitCode, d.stderr).toBe(0);
    await source.sql('CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 3000) g');
    await source.redis('SET', 'k1', 'one');
    await source.redis('SET', 'demo:hits', '41000');
    await source.sql('CREATE TABLE marks(id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    sourceHash = await source.sql(HASH);
    const b = await onSource(['backup', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    const out = JSON.parse(b.stdout) as { id: string; offsite: { repo: string; copied: string[]; failed?: string }[] };
    expect(out.offsite[0].failed).toBeUndefined();
    expect(out.offsite[0].copied).toContain(out.id);
    backupId = out.id;
  }, SLOW);

  it('rows committed after the backup: the archived WAL pushed off-site (offsite push), status says so', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let i = 1; i <= 30; i++) {
      afterBackup.push({ id: i, at: await source.sql(`WITH m AS (INSERT INTO marks(id) VALUES (${i}) RETURNING at) SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM m`) });
      if (i === 20) {
        await sleep(300);
        pitrTarget = await source.sql(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
        await sleep(300);
      } else await sleep(100);
    }
    // what archive_timeout does after 10 s, at once: the segment closed and archived
    const seg = await source.sql('SELECT pg_walfile_name(pg_switch_wal())');
    for (let i = 0; i < 100 && (await source.sql('SELECT last_archived_wal FROM pg_stat_archiver')) < seg; i++) await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const p = await onSource(['offsite', 'push', '--json']);
    expect(p.exitCode, p.stderr).toBe(0);
    const pushed = JSON.parse(p.stdout) as { wal: { repo: string; snapshot: string; newest_segment: string; reachable_until: string; failed?: string }[] };
    console.log(`offsite push of the WAL: ${Date.now() - t0} ms, ${JSON.stringify(pushed.wal)}`);
    expect(pushed.wal[0].repo).toBe('box');
    // archive_timeout may have closed one more segment meanwhile
    expect(pushed.wal[0].newest_segment.slice(8) >= seg.slice(8), pushed.wal[0].newest_segment).toBe(true);
    expect(pushed.wal[0].failed).toBeUndefined();
    expect(pushed.wal[0].snapshot).toMatch(/^[0-9a-f]{8,}$/);
    expect(pushed.wal[0].reachable_until >= afterBackup[29].at.slice(0, 23)).toBe(true);
    // the same archive again is not pushed again
    const again = JSON.parse((await onSource(['offsite', 'push', '--json'])).stdout) as { wal: { snapshot: string; newest_segment: string }[] };
    if (again.wal[0].newest_segment === pushed.wal[0].newest_segment) expect(again.wal[0].snapshot).toBe('unchanged');
    const st = JSON.parse((await onSource(['status', '--json'])).stdout) as { checks: { check: string; level: string; message: string }[] };
    const walCheck = st.checks.find((c) => c.check === 'wal off-site box')!;
    expect(walCheck.level, walCheck.message).toBe('OK');
    expect(walCheck.message).toContain(`newest segment off-site ${again.wal[0].newest_segment}`);
    // written after the push: these are lost with the host
    for (let i = 31; i <= 35; i++) await source.sql(`INSERT INTO marks(id) VALUES (${i})`);
  }, SLOW);

  it('the new host: restore --from-offsite latest, killed -9 while it restores Postgres; run again, it finishes and the app serves the data', async () => {
    // the disaster: the source host's stack is gone (its port too: lifeops' pre-flight checks ports on this machine, which both "hosts" share)
    const gone = await onSource(['down', '--yes']);
    expect(gone.exitCode, gone.stderr).toBe(0);
    // only what an operator carries to a new machine: the stack file, its env file, the off-site credentials
    mkdirSync(dst.dir, { recursive: true });
    copyFileSync(src.file, dst.file);
    copyFileSync(path.join(src.dir, 'demo.local.env'), path.join(dst.dir, 'demo.local.env'));
    cpSync(secrets, path.join(dst.dir, 'secrets'), { recursive: true });
    expect(await onNewContainer('db')).toBe('');

    const logs = runLogs(path.join(dst.stateDir, 'logs'));
    const child = spawn('node', [BIN, '-f', dst.file, '--state-dir', dst.stateDir, 'restore', '--from-offsite', 'latest'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...engineEnv, FRONT_BIND: '0.0.0.0', CI: '1' },
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let killedAt = '';
    for (const t0 = Date.now(); !killedAt; await new Promise((r) => setTimeout(r, 100))) {
      const steps = logs.names().flatMap((n) => logs.startedSteps(n));
      if (steps.some((s) => /^postgres: restore demo/.test(s))) {
        child.kill('SIGKILL');
        killedAt = steps.at(-1)!;
      }
      if (child.exitCode !== null) throw new Error(`the restore ended before the kill (exit ${child.exitCode}):\n${stderr}`);
      if (Date.now() - t0 > SLOW) throw new Error(`no Postgres restore step in ${SLOW / 1000} s:\n${stderr}`);
    }
    expect(await exited).toBeNull();
    console.log(`restore --from-offsite killed -9 at step "${killedAt}"`);

    const t1 = Date.now();
    const again = await onNew(['restore', '--from-offsite', 'latest', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    console.log(`the recovering run took ${Date.now() - t1} ms`);
    expect(again.stderr).toContain(`continuing the recovery of backup ${backupId}`);
    // the killed run's lock taken over, its run marked crashed
    expect(again.stderr).toMatch(/took over the stale lock of run /);
    const r = JSON.parse(again.stdout) as { backup: string; repo: string; resumed: boolean; databases: { name: string; rows: number }[]; deploy: { outcome: string } };
    expect(r).toMatchObject({ backup: backupId, repo: 'box', resumed: true, deploy: { outcome: 'success' } });
    expect(r.databases.find((x) => x.name === 'demo')!.rows).toBeGreaterThanOrEqual(3000);

    // the data, read on the new host's database
    expect(await newSql(HASH)).toBe(sourceHash);
    expect((await dk(['exec', await onNewContainer('cache'), 'redis-cli', 'GET', 'k1'])).stdout.trim()).toBe('one');
    // and served by the app through the front: the counter continues from the restored 41000; /ready reaches Postgres and Redis
    const page = await fetchJson('/');
    expect(page.status).toBe(200);
    expect(page.body.hits).toBe(41001);
    expect((await fetchJson('/ready')).status).toBe(200);

    // the new host's backup folder holds the copy, verified; its place off-site known
    const list = await onNew(['backups', 'list', '--json']);
    expect(list.exitCode, list.stderr).toBe(0);
    const row = (JSON.parse(list.stdout) as { id: string; local: boolean; verified?: string; offsite: { repo: string }[] }[]).find((x) => x.id === backupId)!;
    expect(row).toMatchObject({ local: true, offsite: [{ repo: 'box' }] });
    expect(row.verified).toBeTruthy();
    // the marker is gone: the recovery is over; a status of the new host answers from its own state dir
    expect(() => readFileSync(path.join(dst.stateDir, 'disaster', 'local.json'))).toThrow();
  }, 2 * SLOW);

  it('a second recovery onto the engine now holding the data is refused (exit 2) without --replace-data, nothing changed', async () => {
    const before = await onNewContainer('db');
    const r = await onNew(['restore', '--from-offsite', 'latest']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/already holds project dr-local \(data volumes of db, cache/);
    expect(r.stderr).toContain('--replace-data');
    expect(r.stderr).not.toContain('\n    at ');
    expect(await onNewContainer('db')).toBe(before);
    expect(await newSql(HASH)).toBe(sourceHash);
  }, SLOW);

  it('--replace-data: a safety backup of what the engine held first, then the copy replaces it', async () => {
    await newSql('INSERT INTO items VALUES (999999, \'written on the new host\')');
    const r = await onNew(['restore', '--from-offsite', backupId, '--replace-data', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { backup: string; safety_backup: string; resumed: boolean };
    expect(out).toMatchObject({ backup: backupId, resumed: false });
    expect(out.safety_backup).toBeTruthy();
    expect(r.stderr).toContain(`safety backup of the data this engine held: ${out.safety_backup}`);
    expect(await newSql(HASH)).toBe(sourceHash);
    // the replaced row is in the safety backup (its row counts: one more than the copy's)
    const show = await onNew(['backups', 'show', out.safety_backup]);
    const rows = (JSON.parse(show.stdout) as { contents: { postgres: { databases: { rows: Record<string, number> }[] } } }).contents.postgres.databases[0].rows;
    expect(rows['public.items']).toBe(3001);
    expect((await fetchJson('/ready')).status).toBe(200);
  }, SLOW);

  it('the new host is lost too; restore --from-offsite --to T on a fresh engine and state dir brings back exactly the rows committed up to T', async () => {
    const wipe = await onNew(['down', '--volumes', '--yes', '--skip-backup']);
    expect(wipe.exitCode, wipe.stderr).toBe(0);
    rmSync(dst.stateDir, { recursive: true, force: true });
    expect(await onNewContainer('db')).toBe('');
    // outside what the off-site copies reach: exit 2 naming the range, nothing created
    const past = await onNew(['restore', '--from-offsite', 'latest', '--to', '2099-01-01 00:00:00']);
    expect(past.exitCode, past.stderr).toBe(2);
    const reach = /past the newest point the off-site WAL reaches: (\S+) /.exec(past.stderr)?.[1] ?? '';
    reachEnd = reach;
    expect(reach >= afterBackup[29].at.slice(0, 23), past.stderr).toBe(true);
    const early = await onNew(['restore', '--from-offsite', 'latest', '--to', '2000-01-01 00:00:00']);
    expect(early.exitCode, early.stderr).toBe(2);
    expect(early.stderr).toMatch(new RegExp(`before the end of the oldest off-site base backup \\(\\S+, ended .*\\); recoverable from the off-site copies: .* \\.\\. ${reach.replace(/\./g, '\\.')}`));
    expect(`${past.stderr}${early.stderr}`).not.toContain('\n    at ');
    expect(await onNewContainer('db')).toBe('');

    const t0 = Date.now();
    const r = await onNew(['restore', '--from-offsite', 'latest', '--to', pitrTarget, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { backup: string; pitr: { to: string; range: { from: string; to: string } }; deploy: { outcome: string } };
    expect(out).toMatchObject({ backup: backupId, pitr: { to: pitrTarget, range: { to: reach } }, deploy: { outcome: 'success' } });
    const upToT = afterBackup.filter((m) => m.at.slice(0, 23) <= pitrTarget).map((m) => m.id);
    expect(upToT).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await newSql(MARKS)).toBe(upToT.join(','));
    expect(await newSql(HASH)).toBe(sourceHash);
    expect((await fetchJson('/ready')).status).toBe(200);
    console.log(`restore --from-offsite --to T: ${Date.now() - t0} ms; rows committed after the last backup: 35 (30 before the push); back with --to T: ${upToT.length} (all up to T)`);
  }, 2 * SLOW);

  it('--to the end the refusal named (with --replace-data): every row pushed off-site comes back, those written after the push do not', async () => {
    const t0 = Date.now();
    const r = await onNew(['restore', '--from-offsite', 'latest', '--to', reachEnd, '--replace-data', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backup: backupId, pitr: { to: reachEnd }, deploy: { outcome: 'success' } });
    expect(await newSql(MARKS)).toBe(Array.from({ length: 30 }, (_, i) => i + 1).join(','));
    expect(await newSql(HASH)).toBe(sourceHash);
    const lastPushed = afterBackup[29].at;
    console.log(`restore --from-offsite --to ${reachEnd} (the range end): ${Date.now() - t0} ms; rows committed after the last backup: 35; back: 30 (every row pushed; the last one committed ${lastPushed}); lost with the host: 5 written after the push`);
  }, 2 * SLOW);
});
