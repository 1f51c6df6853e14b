// Issue 16: PgBouncer logs in to a scram-sha-256 Postgres. AI-IA's rendered
// pgbouncer.ini and the pgbouncer service's compose environment (both from
// `lifeops render`), real Postgres 15 (lifeops/postgres:15, password_encryption
// scram-sha-256, SCRAM in pg_hba) and real pgbouncer 1.18 (lifeops/pgbouncer:local):
// both databases answer through PgBouncer in transaction mode, a wrong password
// is refused, and the password is in no rendered file; the userlist exists only
// inside the container, mode 0600. Clients run inside the containers (docker
// exec) on an internal network of the test's own.
import { describe, it, expect, afterAll } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { parse } from 'yaml';
import { ROOT, lifeops } from '../helpers.js';

const PASSWORD = 'gp-scram-Pass_0123456789abcdef';
const SECRETS: Record<string, string> = {
  POSTGRES_PASSWORD: PASSWORD,
  DJANGO_SECRET_KEY: 'gp-dummy-django-secret-key-0123456789abcdef',
  DJANGO_STAGING_SECRET_KEY: 'gp-dummy-django-staging-key-0123456789abcd',
  SECRET_KEY: 'gp-dummy-secret-key-0123456789abcdef0123',
  JWT_SECRET_KEY: 'gp-dummy-jwt-secret-key-0123456789abcdef01',
  DB_PASSWORD: 'gp-dummy-db-password-0123456789abcdef0123',
};
const net = `gp-pgb-${process.pid}`;
const containers: string[] = [];
const base = path.join(ROOT, '.tmp-tests');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(path.join(base, 'gppgb-'));

afterAll(async () => {
  for (const id of containers) await execa('docker', ['rm', '-f', '-v', id], { reject: false });
  await execa('docker', ['network', 'rm', net], { reject: false });
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

const run = async (args: string[]) => {
  const id = (await execa('docker', ['run', '-d', '--network', net, '--label', 'lifeops.test=gaps-pgbouncer', ...args])).stdout.trim();
  containers.push(id);
  return id;
};

function files(root: string): string[] {
  return readdirSync(root).flatMap((n) => (statSync(path.join(root, n)).isDirectory() ? files(path.join(root, n)) : [path.join(root, n)]));
}

describe("AI-IA's PgBouncer against a SCRAM Postgres", () => {
  it('pools both databases in transaction mode with SCRAM on both sides', async () => {
    const out = path.join(dir, 'render');
    const r = await lifeops(['-f', path.join(ROOT, 'stacks', 'aiia.yaml'), '--state-dir', path.join(dir, 'state'), 'render', '--env', 'production', '--out', out], { env: SECRETS });
    expect(r.exitCode, r.stderr).toBe(0);
    // no rendered file carries the password, and none is a userlist
    for (const f of files(out)) {
      expect(readFileSync(f, 'utf8'), f).not.toContain(PASSWORD);
      expect(path.basename(f)).not.toBe('userlist.txt');
    }
    const compose = parse(readFileSync(path.join(out, 'docker-compose.yml'), 'utf8'));
    const svc = compose.services.pgbouncer as { environment: Record<string, string>; volumes: string[] };
    expect(svc.volumes).toContain('./pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro');
    const env = Object.entries(svc.environment).map(([k, v]) => `${k}=${String(v).replace('${POSTGRES_PASSWORD}', PASSWORD)}`);
    expect(env).toContain('AUTH_TYPE=scram-sha-256');
    const ini = readFileSync(path.join(out, 'pgbouncer', 'pgbouncer.ini'), 'utf8');
    expect(ini).toMatch(/^pool_mode = transaction$/m);

    await execa('docker', ['network', 'create', '--internal', '--label', 'lifeops.test=gaps-pgbouncer', net]);
    const pg = compose.services.postgresql.environment as Record<string, string>;
    const db = await run(['--network-alias', 'postgresql', '-e', `POSTGRES_USER=${pg.POSTGRES_USER}`, '-e', `POSTGRES_PASSWORD=${PASSWORD}`, '-e', `POSTGRES_DB=${pg.POSTGRES_DB}`,
      'lifeops/postgres:15', 'postgres', '-c', 'password_encryption=scram-sha-256', '-c', 'log_connections=on']);
    const psqlDb = (sql: string, database = 'aiia_prod') => execa('docker', ['exec', db, 'psql', '-U', 'aiia', '-d', database, '-tAc', sql], { reject: false });
    await until('postgres to answer', 150_000, async () => (await psqlDb('select 1')).stdout.trim() === '1');
    await psqlDb('CREATE DATABASE aiia_staging');
    expect((await psqlDb('SHOW password_encryption')).stdout.trim()).toBe('scram-sha-256');
    expect((await psqlDb("select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'aiia'")).stdout.trim()).toBe('t');
    const hba = (await execa('docker', ['exec', db, 'sh', '-c', 'grep -v "^#" "$PGDATA/pg_hba.conf" | grep "^host"'])).stdout;
    expect(hba).toMatch(/^host\s+all\s+all\s+all\s+scram-sha-256$/m);

    const bouncer = await run([...env.flatMap((e) => ['-e', e]), '--network-alias', 'pgbouncer', '-v', `${out}/pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro`, 'lifeops/pgbouncer:local']);
    await until('pgbouncer to listen', 30_000, async () => /listening on 0\.0\.0\.0:6432/.test((await execa('docker', ['logs', bouncer], { reject: false, all: true })).all ?? ''));
    const through = (database: string, sql: string, password = PASSWORD) =>
      execa('docker', ['exec', '-e', `PGPASSWORD=${password}`, bouncer, 'psql', '-h', '127.0.0.1', '-p', '6432', '-U', 'aiia', '-d', database, '-tAc', sql], { reject: false });

    // each database: a write in a transaction and a read back, through the pool
    for (const database of ['aiia_prod', 'aiia_staging']) {
      const w = await through(database, `BEGIN; CREATE TABLE IF NOT EXISTS gp (v text); INSERT INTO gp VALUES ('${database}'); COMMIT;`);
      expect(w.exitCode, w.stderr).toBe(0);
      const q = await through(database, "select current_user || '@' || current_database() || ':' || (select string_agg(v, ',') from gp)");
      expect(q.exitCode, q.stderr).toBe(0);
      expect(q.stdout.trim()).toBe(`aiia@${database}:${database}`);
    }
    // pgbouncer's own view: transaction pooling on both databases' pools, server connections made
    const pools = await through('pgbouncer', 'SHOW POOLS');
    expect(pools.exitCode, pools.stderr).toBe(0);
    for (const database of ['aiia_prod', 'aiia_staging']) expect(pools.stdout).toMatch(new RegExp(`^${database}\\|aiia\\|.*\\|transaction$`, 'm'));
    // the server saw SCRAM logins from pgbouncer (log_connections), never a failed one
    const pgLogs = (await execa('docker', ['logs', db], { all: true })).all ?? '';
    expect(pgLogs).toMatch(/connection authorized: user=aiia database=aiia_staging/);
    expect(pgLogs).toMatch(/connection authenticated: identity="aiia" method=scram-sha-256/);
    expect(pgLogs).not.toMatch(/password authentication failed/);
    // a wrong password is refused by pgbouncer
    const wrong = await through('aiia_prod', 'select 1', 'not-the-password');
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toMatch(/password authentication failed|SASL authentication failed/);
    // the userlist exists only inside the container, readable by pgbouncer's user alone
    expect((await execa('docker', ['exec', bouncer, 'stat', '-c', '%a %U', '/etc/pgbouncer/userlist.txt'])).stdout.trim()).toBe('600 postgres');
    const logs = (await execa('docker', ['logs', bouncer], { all: true })).all ?? '';
    expect(logs).not.toMatch(/server login (failed|has been failing)|wrong password type/);
    expect(logs).not.toContain(PASSWORD);
  });
});
