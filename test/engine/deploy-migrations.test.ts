// migrations_ran is true only when the database changed. On the real engine,
// with its own copy of demo/app (so a test migration and its images stay
// here): a deploy that migrates and then fails readiness is rolled back WITH
// the database restored from the pre-deploy backup; one whose migration
// command changes nothing is rolled back WITHOUT a restore. The pure parts
// (fingerprint parsing, comparison, decision) are in test/unit/migration-fingerprint.test.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, writeFileSync, rmSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { lifeops, demoCopy, at, ROOT } from '../helpers.js';

const PORT = 18530;
const APP = 'lifeops/dmg-app';
const stack = demoCopy('dmg', PORT, (d) => {
  // its own app copy and image name: the test migration never reaches demo/app or lifeops/demo-app
  for (const svc of ['web', 'worker']) at(d, `services.${svc}`).image = `${APP}:\${VERSION}`;
  at(d, 'services.web.build').context = './app';
  at(d, 'migrations').path = './app/migrations';
  // readiness of a version can be broken from the environment: /ready checks Redis
  at(d, 'services.web.environment').REDIS_URL = '${WEB_REDIS_URL}';
  at(d, 'variables.defaults').WEB_REDIS_URL = 'redis://cache:6379/0';
  at(d, 'services.web').health_timeout = '20s';
});
const migrationsDir = path.join(stack.dir, 'app', 'migrations');
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };
const BROKEN = { ...ENV, WEB_REDIS_URL: 'redis://nowhere:6379/0' };

/** psql in the db container; waits out a crash recovery (seen on the shared test bed: backends killed by SIGPIPE). */
async function psql(sql: string): Promise<string> {
  const id = (await execa('docker', ['ps', '-q', '--filter', 'label=com.docker.compose.project=dmg-local', '--filter', 'label=com.docker.compose.service=db'])).stdout.trim();
  if (!id) throw new Error('no running db container');
  for (let i = 0; ; i++) {
    const r = await execa('docker', ['exec', id, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'demo', '-d', 'demo', '-c', sql], { reject: false });
    if (r.exitCode === 0) return String(r.stdout).trim();
    if (i >= 30 || !/recovery mode|not yet accepting connections|starting up|shutting down/.test(String(r.stderr))) throw new Error(`psql failed: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 2000));
  }
}
const visits = () => psql("SELECT string_agg(id || ':' || path, ',' ORDER BY id) FROM visits");
const visitColumns = () => psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'visits'");
const applied = () => psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations");
const history = async () => JSON.parse((await lifeops(args('history', '--json'), { env: ENV })).stdout) as Record<string, unknown>[];
const backupIds = () => (existsSync(path.join(stack.stateDir, 'backups')) ? readdirSync(path.join(stack.stateDir, 'backups')).filter((d) => existsSync(path.join(stack.stateDir, 'backups', d, 'manifest.json'))) : []);
const tagOf = (id: string) => (JSON.parse(readFileSync(path.join(stack.stateDir, 'backups', id, 'manifest.json'), 'utf8')) as { tag?: string }).tag;
// a deploy with a rollback and a restore takes 1-4 minutes on a loaded 2-core machine
const SLOW = 600_000;
const deployTimeout = { timeoutMs: SLOW };
const servedVersion = async () => ((await (await fetch(`http://127.0.0.1:${PORT}/`, { signal: AbortSignal.timeout(5000) })).json()) as { version: string }).version;

describe('deploy migrations (real engine)', () => {
  beforeAll(async () => {
    cpSync(path.join(ROOT, 'demo', 'app'), path.join(stack.dir, 'app'), { recursive: true, filter: (src) => !src.includes('__pycache__') });
    const t0 = Date.now();
    const r = await lifeops(args('deploy', 'local', '--version', 'v1'), { env: ENV, ...deployTimeout });
    if (r.exitCode !== 0) throw new Error(`deploy v1 failed:\n${r.stderr}`);
    console.log(`deploy v1 (fresh, with build): ${Date.now() - t0} ms`);
  }, SLOW);
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'), { env: ENV });
    await execa('docker', ['rmi', '-f', `${APP}:v1`, `${APP}:v2`, `${APP}:v3`], { reject: false });
  });

  it('the first deploy created the tables: migrations_ran true, fingerprints logged', async () => {
    expect(await applied()).toBe('0001_create_visits.sql');
    const last = (await history()).at(-1)!;
    expect(last).toMatchObject({ version: 'v1', outcome: 'success', migrations_ran: true });
    const log = readFileSync(path.join(stack.stateDir, 'logs', `${String(last.run_id)}.jsonl`), 'utf8');
    const fps = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { detail?: { fingerprint?: string; hash?: string; via?: string } })
      .filter((e) => e.detail?.fingerprint);
    expect(fps.map((e) => e.detail!.fingerprint)).toEqual(['before', 'after']);
    expect(fps[1].detail!.via).toMatch(/^127\.0\.0\.1:\d+$/); // through the published port with pg, not the psql fallback
    expect(fps[0].detail!.hash).not.toBe(fps[1].detail!.hash);
    expect(log).not.toContain(ENV.POSTGRES_PASSWORD);
  });

  it('a deploy that fails after its migration changed the database: rolled back, data back to pre-deploy, previous release serving', async () => {
    await psql("INSERT INTO visits (path) VALUES ('/a'), ('/b'), ('/c')");
    const rows = await visits();
    const columns = await visitColumns();
    expect(rows).toMatch(/^\d+:\/a,\d+:\/b,\d+:\/c$/);
    writeFileSync(
      path.join(migrationsDir, '0002_referrer.sql'),
      "-- 0002 (test): a new column, a new table and changed rows\nALTER TABLE visits ADD COLUMN referrer text NOT NULL DEFAULT 'none';\nCREATE TABLE v2_audit (id bigserial PRIMARY KEY, note text);\nUPDATE visits SET path = path || '?v2';\n",
    );
    const backupsBefore = backupIds();

    const t0 = Date.now();
    const r = await lifeops(args('deploy', 'local', '--version', 'v2'), { env: BROKEN, ...deployTimeout });
    console.log(`failing deploy v2 with migration, rollback and restore: ${Date.now() - t0} ms`);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/migrations: the database changed \(schema fingerprint [0-9a-f]{12} -> [0-9a-f]{12}: .*demo\/columns.*demo\/versions/);
    expect(r.stderr).toMatch(/rolled back to the previous release \S+ \(version v1\), which is serving/);
    const m = /database restored from the pre-deploy backup (\S+); the data as it was at the failure is in safety backup (\S+)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [, pre, safety] = m!;
    expect(new Set(backupIds())).toEqual(new Set([...backupsBefore, pre, safety]));
    expect(tagOf(pre)).toBe('pre-deploy');
    expect(tagOf(safety)).toBe('safety-before-restore');

    // the data as it was before the deploy: no new column, same rows, 0002 not recorded
    expect(await visitColumns()).toBe(columns);
    expect(await visits()).toBe(rows);
    expect(await applied()).toBe('0001_create_visits.sql');

    // the previous release serves through the front
    expect(await servedVersion()).toBe('v1');
    expect((await fetch(`http://127.0.0.1:${PORT}/health`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);

    expect((await history()).at(-1)).toMatchObject({ version: 'v2', outcome: 'rolled-back', migrations_ran: true, backup: pre });
  }, SLOW);

  // pg_restore --clean alone drops only what the dump holds: a table the failed
  // migration CREATED would survive, and re-running that migration would fail.
  it('the table that migration created is gone too: the restore drops what the backup did not have', async () => {
    expect(await psql("SELECT coalesce(to_regclass('public.v2_audit')::text, 'gone')")).toBe('gone');
  });

  it('a failing deploy with no new migration file runs no migrations container and does not restore the database', async () => {
    rmSync(path.join(migrationsDir, '0002_referrer.sql'));
    await psql("INSERT INTO visits (path) VALUES ('/d')");
    const rows = await visits();
    const backupsBefore = backupIds();

    const t0 = Date.now();
    const r = await lifeops(args('deploy', 'local', '--version', 'v3'), { env: BROKEN, ...deployTimeout });
    console.log(`failing deploy v3 without schema change, rollback without restore: ${Date.now() - t0} ms`);
    expect(r.exitCode, r.stderr).toBe(1);
    // a new image but no new migration file: no one-off container at all
    expect(r.stderr).toMatch(/note: migrations: no new file in \S+ since the last release: no migrations container/);
    expect(r.stderr).not.toMatch(/in a one-off web container/);
    expect(r.stderr).toMatch(/rolled back to the previous release \S+ \(version v1\), which is serving/);
    expect(r.stderr).not.toMatch(/database restored|safety backup|safety-before-restore/);
    const pre = /pre-deploy backup: (\S+)/.exec(r.stderr)?.[1];
    expect(backupIds().filter((id) => !backupsBefore.includes(id))).toEqual([pre]); // the pre-deploy backup only, no safety backup

    expect(await visits()).toBe(rows);
    expect(await servedVersion()).toBe('v1');
    expect((await history()).at(-1)).toMatchObject({ version: 'v3', outcome: 'rolled-back', migrations_ran: false });
  }, SLOW);
});
